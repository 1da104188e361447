/**
 * Two real labgate processes (main.ts) on one PostgreSQL database: what is
 * changed on A takes effect on B at once (LISTEN/NOTIFY) rather than when a
 * cache there happens to expire. A serves on 127.0.0.1 and B on 127.0.0.2,
 * so both SQL doors can listen on the one port the shared settings name.
 */
import assert from "node:assert/strict";
import {
  actorOf,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  POSTGRES_URL,
  scratchPostgresDatabase,
  testConfig,
  type TestContext,
} from "../_support/backends.ts";
import { APP_ID, FOLDER, tokenWorld } from "../_support/tokens.ts";
import { bootstrapAdmin } from "../../src/app/bootstrap.ts";
import { getContainerByPath, setPolicy } from "../../src/data/containers.ts";
import { createUser } from "../../src/data/users.ts";
import { CACHE_MS } from "../../src/doors/keys/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { addSite } from "../../src/doors/remote_login/mod.ts";
import { createServices } from "../../src/services.ts";
import { sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { ensureCertificate } from "../../src/doors/sql/tls/mod.ts";
import { installed, LineClient, run, skipped } from "./_clients.ts";
import { errorOf, RawClient, rowsOf } from "../wire/_client.ts";
import { query } from "../../wire/protocol/messages.ts";
import { eventually, freePort, type Instance, startInstance } from "./_instances.ts";

const SECRET_KEY = "two instances share this secret";
const SITE = "https://app.example";
const KIM = { email: "kim@example.org", password: "kim-password-1" };

/** A signed-in API session on one instance. */
interface Login {
  cookie: string;
  csrf: string;
}

async function login(on: Instance, email: string, password: string): Promise<Login> {
  const response = await fetch(`${on.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const { csrfToken } = await response.json();
  const cookie = response.headers.getSetCookie()[0].split(";")[0];
  return { cookie, csrf: csrfToken };
}

/** A request with the session's cookie (and CSRF token); the status and body text. */
async function call(
  on: Instance,
  session: Login,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const form = body instanceof URLSearchParams;
  const response = await fetch(`${on.url}${path}`, {
    method,
    redirect: "manual",
    headers: {
      cookie: session.cookie,
      "x-csrf-token": session.csrf,
      ...(body === undefined || form ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : form ? body : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

async function statusWith(on: Instance, path: string, headers: HeadersInit): Promise<number> {
  const response = await fetch(`${on.url}${path}`, { headers });
  await response.body?.cancel();
  return response.status;
}

/** Runs `select 1` through `on`'s SQL door with verify-full against `rootCert`. */
async function psqlVerified(on: Instance, port: number, rootCert: string) {
  return await run("psql", [
    "-X",
    "-A",
    "-t",
    `host=localhost hostaddr=${on.hostname} port=${port} dbname=/home user=${ADMIN_EMAIL} ` +
    `sslmode=verify-full sslrootcert=${rootCert}`,
    "-c",
    "select 1",
  ], { env: { PGPASSWORD: ADMIN_PASSWORD, PGCONNECT_TIMEOUT: "5" } });
}

async function listens(hostname: string, port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname, port })).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "two labgate processes on one PostgreSQL database see each other's changes at once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (!POSTGRES_URL) {
      console.log("SKIPPED: set TEST_DATABASE_URL to run labgate instances on PostgreSQL");
      return;
    }
    const scratch = await scratchPostgresDatabase(POSTGRES_URL, { prefix: "lgt", poolSize: 2 });
    const svc = createServices(testConfig({ LABGATE_SECRET_KEY: SECRET_KEY }), scratch.database);
    const instances: Instance[] = [];
    const work = await Deno.makeTempDir({ prefix: "labgate-two-" });
    try {
      // The shared database, made ready here: a folder, users, an app with a token, settings.
      await bootstrapAdmin(svc, () => {});
      const admin = await actorOf(svc, ADMIN_EMAIL);
      const world = await tokenWorld({ svc, admin } as TestContext);
      const token = await world.token();
      const kim = await createUser(svc, admin, { ...KIM, mustChangePassword: false });
      await setPolicy(svc, admin, FOLDER, {
        inherit: false,
        assignments: [{ principalId: kim.id, role: "reader" }],
      });
      await svc.settings.set(keySettings, {
        apiKeys: true,
        apiKeyExpiries: ["1w"],
        sessionKeys: true,
      });
      const sqlPort = freePort();
      await svc.settings.set(sqlDoorSettings, {
        ...await svc.settings.get(sqlDoorSettings),
        enabled: true,
        port: sqlPort,
      });
      await ensureCertificate(svc);
      await addSite(svc, admin, { name: "Example", prefixes: [SITE] });

      const env = {
        DATABASE_URL: scratch.url,
        LABGATE_SECRET_KEY: SECRET_KEY,
        LABGATE_ADMIN_EMAIL: ADMIN_EMAIL,
        LABGATE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      };
      const [a, b] = await Promise.all([
        startInstance("127.0.0.1", env),
        startInstance("127.0.0.2", env),
      ]);
      instances.push(a, b);
      const adminOnA = await login(a, ADMIN_EMAIL, ADMIN_PASSWORD);

      await t.step("a role removed on A is no longer granted on B", async () => {
        const kimOnA = await login(a, KIM.email, KIM.password);
        const made = await call(a, kimOnA, "POST", "/api/keys", { kind: "api_key", expiry: "1w" });
        assert.equal(made.status, 201, made.text);
        const kimKey = { apikey: JSON.parse(made.text).key };
        const folder = `/api/folders?path=${encodeURIComponent(FOLDER)}`;
        assert.equal(await statusWith(b, folder, kimKey), 200, "B has cached Kim's Reader role");
        const { id } = (await getContainerByPath(svc, FOLDER))!;
        const changed = await call(a, adminOnA, "PUT", `/api/folders/${id}/policy`, {
          inherit: false,
          assignments: [],
        });
        assert.equal(changed.status, 200, changed.text);
        await eventually(
          "B refuses Kim the folder",
          async () => await statusWith(b, folder, kimKey) === 404,
        );
      });

      await t.step(
        "a role removed, a key revoked and a session signed out on A end SQL-door connections on B",
        async () => {
          const { id } = (await getContainerByPath(svc, FOLDER))!;
          const policy = (assignments: { principalId: number; role: string }[]) =>
            call(a, adminOnA, "PUT", `/api/folders/${id}/policy`, { inherit: false, assignments });
          assert.equal((await policy([{ principalId: kim.id, role: "reader" }])).status, 200);
          await using onB = new RawClient(
            await Deno.connect({ hostname: b.hostname, port: sqlPort }),
          );
          await onB.login({ user: KIM.email, password: KIM.password, database: FOLDER });
          onB.send(query("select count(*) from lists.samples"));
          assert.deepEqual(rowsOf(await onB.until()), [["1"]]);
          // From before the request, so the time includes the commit: an upper bound.
          const sent = performance.now();
          const changed = await policy([]);
          assert.equal(changed.status, 200, changed.text);
          // Nothing sent: B closes the connection when A's notification arrives.
          const seen = await onB.closedByServer();
          const closedMs = performance.now() - sent;
          console.log(
            `role removed on A: B closed the connection within ${closedMs.toFixed(1)} ms`,
          );
          const fatal = errorOf(seen.find((m) => m.type === "E")!);
          assert.equal(fatal.code, "28000");
          assert.match(fatal.message, new RegExp(`Permission to read ${FOLDER} was removed`));
          assert.ok(closedMs < 1000, `closed within a second, took ${closedMs} ms`);

          if (!await installed("psql")) return skipped("psql");
          const statement = `select count(*) from lists.samples;\n\\echo ${LineClient.DONE}`;
          /** psql on B signed in with a key made on A, and how it ends once `end` ran on A. */
          const endsOnB = async (
            kind: string,
            end: (id: string, signedIn: Login) => Promise<unknown>,
          ) => {
            const signedIn = await login(a, ADMIN_EMAIL, ADMIN_PASSWORD);
            const made = await call(a, signedIn, "POST", "/api/keys", { kind, expiry: "1w" });
            assert.equal(made.status, 201, made.text);
            const { key, id } = JSON.parse(made.text);
            await using byKey = new LineClient("psql", [
              "-X",
              "-A",
              "-t",
              "-q",
              `host=localhost hostaddr=${b.hostname} port=${sqlPort} dbname=${FOLDER} ` +
              "user=apikey sslmode=require",
            ], { PGPASSWORD: key, PGCONNECT_TIMEOUT: "10" });
            assert.equal((await byKey.ask(statement)).stdout, "1");
            await end(id, signedIn);
            // A statement that reaches B before A's notification still runs (docs/security.md).
            await eventually(
              "B has heard of it",
              async () => await statusWith(b, "/api/me", { apikey: key }) === 401,
            );
            const ended = await byKey.ask(statement);
            assert.ok(ended.exited);
            assert.equal(ended.stdout, "");
            return ended.stderr;
          };
          const revoked = await endsOnB("api_key", async (id) => {
            assert.equal((await call(a, adminOnA, "DELETE", `/api/keys/${id}`)).status, 200);
          });
          assert.match(revoked, /FATAL: {2}terminating connection: API key revoked/);
          const signedOut = await endsOnB("session_key", async (_id, signedIn) => {
            assert.equal((await call(a, signedIn, "POST", "/api/logout")).status, 200);
          });
          assert.match(signedOut, /FATAL: {2}terminating connection: .*browser session has ended/);
        },
      );

      await t.step(
        "a password changed and an account deactivated on A end Kim's connections on B",
        async () => {
          const { id } = (await getContainerByPath(svc, FOLDER))!;
          const granted = await call(a, adminOnA, "PUT", `/api/folders/${id}/policy`, {
            inherit: false,
            assignments: [{ principalId: kim.id, role: "reader" }],
          });
          assert.equal(granted.status, 200, granted.text);
          const kimOnB = async (password: string) => {
            const client = new RawClient(
              await Deno.connect({ hostname: b.hostname, port: sqlPort }),
            );
            await client.login({ user: KIM.email, password, database: FOLDER });
            return client;
          };
          const endedWith = async (client: RawClient, cause: RegExp) => {
            const seen = await client.closedByServer();
            assert.match(errorOf(seen.find((m) => m.type === "E")!).message, cause);
          };
          const newPassword = "kim-new-password-2";
          await using before = await kimOnB(KIM.password);
          const kimOnA = await login(a, KIM.email, KIM.password);
          const changed = await call(a, kimOnA, "POST", "/api/me/password", {
            currentPassword: KIM.password,
            newPassword,
          });
          assert.equal(changed.status, 200, changed.text);
          await endedWith(before, /The password of this account was changed/);

          await using after = await kimOnB(newPassword);
          const deactivated = await call(a, adminOnA, "PATCH", `/api/users/${kim.id}`, {
            active: false,
          });
          assert.equal(deactivated.status, 200, deactivated.text);
          await endedWith(after, /This account was deactivated/);
        },
      );

      await t.step("an API key revoked on A is refused on B", async () => {
        const adminKeyMade = await call(a, adminOnA, "POST", "/api/keys", {
          kind: "api_key",
          expiry: "1w",
        });
        const { key, id } = JSON.parse(adminKeyMade.text);
        assert.equal(await statusWith(b, "/api/me", { apikey: key }), 200, "B has cached the key");
        assert.equal((await call(a, adminOnA, "DELETE", `/api/keys/${id}`)).status, 200);
        // Sooner than B's key cache would expire by itself (CACHE_MS): the notification did it.
        await eventually(
          "B refuses the revoked key",
          async () => await statusWith(b, "/api/me", { apikey: key }) === 401,
          CACHE_MS * 0.8,
        );
      });

      await t.step("an app disabled on A stops its token on B", async () => {
        const auth = { authorization: `Token ${token.value}` };
        assert.equal(await statusWith(b, "/api/folders", auth), 200);
        const saved = await call(
          a,
          adminOnA,
          "POST",
          `/admin/external-apps/${APP_ID}`,
          new URLSearchParams([
            ["_csrf", adminOnA.csrf],
            ["id", APP_ID],
            ["description", "Test app"],
            ["status", "disabled"],
            ["entry", "rest"],
            ["entry", "action"],
            ["rest_paths", ""],
            ["default_expiry_days", "30"],
          ]),
        );
        assert.equal(saved.status, 303, saved.text);
        await eventually(
          "B refuses the disabled app's token",
          async () => await statusWith(b, "/api/folders", auth) === 403,
        );
      });

      await t.step("a session logged out on A is refused on B", async () => {
        const session = await login(a, ADMIN_EMAIL, ADMIN_PASSWORD);
        assert.equal(await statusWith(b, "/api/me", { cookie: session.cookie }), 200);
        assert.equal((await call(a, session, "POST", "/api/logout")).status, 200);
        await eventually(
          "B refuses the ended session",
          async () => await statusWith(b, "/api/me", { cookie: session.cookie }) === 401,
        );
      });

      await t.step(
        "remote-login tokens invalidated or signed out on A are refused on B",
        async () => {
          const session = await login(a, ADMIN_EMAIL, ADMIN_PASSWORD);
          const tokenFor = async () => {
            const response = await fetch(
              `${a.url}/login/createToken.view?returnUrl=${encodeURIComponent(`${SITE}/page`)}`,
              { headers: { cookie: session.cookie }, redirect: "manual" },
            );
            await response.body?.cancel();
            return new URL(response.headers.get("location")!).searchParams.get("labkeyToken")!;
          };
          const verifiedOnB = async (token: string) => {
            const response = await fetch(`${b.url}/login/verifyToken.view?labkeyToken=${token}`);
            return (await response.text()).includes('success="true"');
          };
          const invalidated = await tokenFor();
          const signedOut = await tokenFor();
          // Both verified on B first, so B holds them in its verified-token cache.
          assert.ok(await verifiedOnB(invalidated));
          assert.ok(await verifiedOnB(signedOut));
          const answer = await fetch(
            `${a.url}/login/invalidateToken.view?labkeyToken=${invalidated}`,
          );
          await answer.body?.cancel();
          // Sooner than B's cache would let them go by itself: the notification did it.
          await eventually(
            "B refuses the invalidated token",
            async () => !await verifiedOnB(invalidated),
            CACHE_MS * 0.8,
          );
          assert.ok(await verifiedOnB(signedOut));
          assert.equal((await call(a, session, "POST", "/api/logout")).status, 200);
          await eventually(
            "B refuses the token of the ended session",
            async () => !await verifiedOnB(signedOut),
            CACHE_MS * 0.8,
          );
        },
      );

      await t.step("a certificate regenerated on A is served by B's SQL door", async () => {
        if (!await installed("psql")) return skipped("psql");
        const pem = async (name: string) => {
          const response = await call(a, adminOnA, "GET", "/sql-door/certificate.pem");
          assert.equal(response.status, 200, response.text);
          const path = `${work}/${name}.pem`;
          await Deno.writeTextFile(path, response.text);
          return path;
        };
        const old = await pem("old");
        const before = await psqlVerified(b, sqlPort, old);
        assert.equal(before.stdout.trim(), "1", `B serves the first certificate: ${before.stderr}`);
        const regenerated = await call(
          a,
          adminOnA,
          "POST",
          "/admin/sql-door",
          new URLSearchParams({ _csrf: adminOnA.csrf, _action: "regenerate" }),
        );
        assert.equal(regenerated.status, 303, regenerated.text);
        const fresh = await pem("new");
        assert.notEqual(await Deno.readTextFile(fresh), await Deno.readTextFile(old));
        await eventually(
          "B's SQL door serves the new certificate",
          async () => (await psqlVerified(b, sqlPort, fresh)).stdout.trim() === "1",
        );
      });

      await t.step("a SQL door port changed on A is where B listens", async () => {
        assert.ok(await listens(b.hostname, sqlPort));
        const newPort = freePort();
        const saved = await call(
          a,
          adminOnA,
          "POST",
          "/admin/sql-door",
          new URLSearchParams({
            _csrf: adminOnA.csrf,
            enabled: "on",
            port: String(newPort),
            host_override: "",
            source: "self_signed",
            validity_days: "365",
          }),
        );
        assert.equal(saved.status, 303, saved.text);
        await eventually("B listens on the new port", () => listens(b.hostname, newPort));
        await eventually(
          "B stops listening on the old port",
          async () => !await listens(b.hostname, sqlPort),
        );
      });
    } finally {
      await Promise.all(instances.map((i) => i.process.stop()));
      await svc.audit.flush();
      await scratch.dispose();
      await Deno.remove(work, { recursive: true });
    }
  },
});
