/**
 * No secret reaches the logs: labgate runs as its own process with every log
 * line on (request log, debug level); a session signs in, changes its
 * password, makes keys and a folder, uses them right and wrong, and then
 * neither stdout nor stderr holds any password, key, cookie or CSRF token.
 */
import assert from "node:assert/strict";
import { migratedDataDir } from "../_support/backends.ts";
import { LabgateProcess, startInstance } from "./_instances.ts";

const ADMIN = { email: "admin@example.org", password: "first-admin-pass-1" };

Deno.test({
  name: "a full session's passwords, keys, cookies and CSRF tokens never reach the logs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await migratedDataDir("labgate-logs-");
    const instance = await startInstance("127.0.0.1", {
      LABGATE_DATA_DIR: dataDir,
      LABGATE_ADMIN_EMAIL: ADMIN.email,
      LABGATE_ADMIN_PASSWORD: ADMIN.password,
      LABGATE_LOG_REQUESTS: "true",
      LABGATE_LOG_LEVEL: "debug",
    });
    const secrets: string[] = [ADMIN.password];
    let process: LabgateProcess | undefined = instance.process;
    try {
      const call = async (method: string, path: string, init: RequestInit = {}) => {
        const response = await fetch(`${instance.url}${path}`, { method, ...init });
        const body = await response.text();
        return { status: response.status, body, headers: response.headers };
      };
      const json = (value: unknown) => JSON.stringify(value);
      const login = await call("POST", "/api/login", {
        headers: { "content-type": "application/json" },
        body: json({ email: ADMIN.email, password: ADMIN.password }),
      });
      assert.equal(login.status, 200, login.body);
      const cookie = login.headers.getSetCookie()[0].split(";")[0];
      const csrf = JSON.parse(login.body).csrfToken as string;
      secrets.push(cookie.split("=")[1], cookie.split(".")[1], csrf);
      const session = { cookie, "x-csrf-token": csrf, "content-type": "application/json" };
      const newPassword = "second-admin-pass-2";
      secrets.push(newPassword);
      const changed = await call("POST", "/api/me/password", {
        headers: session,
        body: json({ currentPassword: ADMIN.password, newPassword }),
      });
      assert.equal(changed.status, 200, changed.body);
      const settings = await call("POST", "/admin/keys", {
        headers: { cookie },
        body: new URLSearchParams({
          _csrf: csrf,
          apiKeys: "on",
          apiKeyExpiries: "never",
          sessionKeys: "on",
        }),
        redirect: "manual",
      });
      assert.equal(settings.status, 303, settings.body);
      for (const kind of ["api_key", "session_key"]) {
        const made = await call("POST", "/api/keys", {
          headers: session,
          body: json({ kind, expiry: "never" }),
        });
        assert.equal(made.status, 201, made.body);
        const key = JSON.parse(made.body).key as string;
        secrets.push(key, key.split(".")[1]);
        const used = await call("GET", "/api/me", {
          headers: { authorization: `Basic ${btoa(`apikey:${key}`)}` },
        });
        assert.equal(used.status, 200, used.body);
      }
      await call("GET", "/api/me", {
        headers: { authorization: `Basic ${btoa("apikey:lgk_0123456789abcdef.wrong-secret")}` },
      });
      secrets.push("wrong-secret");
      const wrongPassword = "guessed-password-9";
      secrets.push(wrongPassword);
      await call("POST", "/api/login", {
        headers: { "content-type": "application/json" },
        body: json({ email: ADMIN.email, password: wrongPassword }),
      });
      await process.stop();
      const logs = process.stdout + "\n" + process.stderr;
      process = undefined;
      assert.ok(logs.includes('"path":"/api/keys"'), "the request log was on");
      for (const secret of secrets) {
        assert.ok(!logs.includes(secret), `a secret is in the logs: ${secret.slice(0, 6)}…`);
      }
    } finally {
      await process?.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
