import assert from "node:assert/strict";
import { createApp } from "../../../routes/mod.ts";
import { AuditLog } from "../../../src/audit/mod.ts";
import { bootstrapAdmin } from "../../../src/app/bootstrap.ts";
import { createServices } from "../../../src/services.ts";
import { BACKENDS, testConfig, testDatabase } from "../../_support/backends.ts";
import { TestBrowser } from "../../_support/http.ts";

for (const backend of BACKENDS) {
  Deno.test(`bootstrapAdmin() prints a one-time password once and forces a change [${backend}]`, async () => {
    const { database, dispose } = await testDatabase(backend);
    try {
      const svc = createServices(
        testConfig({ LABGATE_ADMIN_EMAIL: "", LABGATE_ADMIN_PASSWORD: "" }),
        database,
        {
          audit: new AuditLog(database, { flushMs: 5 }),
        },
      );
      const printed: string[] = [];
      assert.deepEqual(await bootstrapAdmin(svc, (m) => printed.push(m)), { created: true });
      assert.deepEqual(await bootstrapAdmin(svc, (m) => printed.push(m)), { created: false });
      assert.equal(printed.length, 1);
      const password = /one-time password (\S+)/.exec(printed[0])![1];
      assert.ok(password.length >= 20);
      const browser = new TestBrowser(createApp(svc));
      const login = await browser.signIn("admin@labgate.local", password);
      assert.equal(login.headers.get("location"), "/account?next=%2Ffolders");
      assert.equal(
        (await browser.get("/folders")).headers.get("location"),
        "/account?next=%2Ffolders",
      );
      const changed = await browser.postForm("/account/password", {
        _csrf: await browser.sessionCsrf(),
        current: password,
        password: "a-new-password",
        confirm: "a-new-password",
        next: "/folders",
      });
      assert.equal(changed.status, 303);
      assert.equal((await browser.get("/folders")).status, 200);
      await svc.audit.flush();
    } finally {
      await dispose();
    }
  });

  Deno.test(`bootstrapAdmin() uses LABGATE_ADMIN_EMAIL and LABGATE_ADMIN_PASSWORD [${backend}]`, async () => {
    const { database, dispose } = await testDatabase(backend);
    try {
      const svc = createServices(
        testConfig({
          LABGATE_ADMIN_EMAIL: "boss@lab.example",
          LABGATE_ADMIN_PASSWORD: "boss-password",
        }),
        database,
        { audit: new AuditLog(database, { flushMs: 5 }) },
      );
      const printed: string[] = [];
      await bootstrapAdmin(svc, (m) => printed.push(m));
      assert.doesNotMatch(printed.join("\n"), /boss-password/);
      const browser = new TestBrowser(createApp(svc));
      assert.equal(
        (await browser.signIn("boss@lab.example", "boss-password")).headers.get("location"),
        "/folders",
      );
      const user = await svc.db.selectFrom("users").selectAll().executeTakeFirstOrThrow();
      assert.ok(await svc.permissions.isSiteAdmin(user.id));
      assert.match(user.password_verifier!, /^SCRAM-SHA-256\$4096:/);
      await svc.audit.flush();
    } finally {
      await dispose();
    }
  });
}
