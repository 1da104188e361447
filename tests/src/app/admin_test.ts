import assert from "node:assert/strict";
import { checkPasswordLogin, recordLoginFailure } from "../../../src/auth/login.ts";
import { createSession, getLiveSession } from "../../../src/data/sessions.ts";
import { createUser } from "../../../src/data/users.ts";
import { createApiKey, verifyKey } from "../../../src/doors/keys/mod.ts";
import { keySettings } from "../../../src/doors/keys/settings.ts";
import { runAdminCommand } from "../../../src/app/admin.ts";
import { ensureCertificate } from "../../../src/doors/sql/tls/mod.ts";
import { ADMIN_EMAIL, backendTest } from "../../_support/backends.ts";

backendTest(
  "runAdminCommand() resets a password to a one-time one and ends the sessions",
  async (t) => {
    const user = await createUser(t.svc, t.admin, {
      email: "ana@example.org",
      password: "ana-pass-123",
    });
    const { session } = await createSession(t.svc, { userId: user.id });
    const out = await runAdminCommand(t.svc, ["reset-password", "ana@example.org"]);
    const password = out.split("\n").at(-1)!;
    assert.match(password, /^[A-Za-z0-9_-]{20}$/);
    const signedIn = await checkPasswordLogin(t.svc, {
      email: "ana@example.org",
      password,
      clientAddr: "127.0.0.1",
      door: "web",
    });
    assert.equal(signedIn.must_change_password, true);
    assert.equal(await getLiveSession(t.svc, session.id), null);
    await t.svc.audit.flush();
    const entry = await t.svc.db.selectFrom("audit_log").selectAll()
      .where("event", "=", "user.update").executeTakeFirstOrThrow();
    assert.equal(entry.door, "system");
    assert.equal(entry.credential_kind, "cli");
    assert.equal(entry.user_email, ADMIN_EMAIL);
    assert.ok(!JSON.stringify(entry).includes(password), "the password is not logged");
  },
);

backendTest("runAdminCommand() unlocks an account in back-off", async (t) => {
  for (let i = 0; i < 10; i++) {
    await recordLoginFailure(t.svc, { account: ADMIN_EMAIL, clientAddr: "192.0.2.3" });
  }
  assert.ok((await t.svc.loginThrottle.failures([`account:${ADMIN_EMAIL}`])).size);
  assert.match(await runAdminCommand(t.svc, ["unlock", ADMIN_EMAIL]), /may sign in again/);
  assert.equal(
    (await t.svc.loginThrottle.failures([
      `account:${ADMIN_EMAIL}`,
      `pair:${ADMIN_EMAIL}|192.0.2.3`,
    ])).size,
    0,
  );
});

backendTest(
  "runAdminCommand() lists and revokes keys, rotates the certificate, shows settings",
  async (t) => {
    await t.svc.settings.set(keySettings, {
      apiKeys: true,
      apiKeyExpiries: ["never"],
      sessionKeys: true,
    });
    const { session } = await createSession(t.svc, { userId: t.admin.userId });
    const admin = { ...t.admin, session: { id: session.id, csrfToken: session.csrf_token } };
    const { key, view } = await createApiKey(t.svc, admin, { expiry: "never" });
    const list = await runAdminCommand(t.svc, ["keys"]);
    assert.match(list, new RegExp(`^${view.id}\tapi_key\t${ADMIN_EMAIL}\tactive`, "m"));
    assert.ok(!list.includes(key.split(".")[1]), "never the secret");
    assert.match(await runAdminCommand(t.svc, ["revoke-key", view.id]), /^Revoked api_key/);
    await assert.rejects(verifyKey(t.svc, key, { door: "api", clientAddr: null }));
    assert.equal(await runAdminCommand(t.svc, ["tokens"]), "No auth tokens");

    const before = await ensureCertificate(t.svc);
    const rotated = await runAdminCommand(t.svc, ["rotate-certificate"]);
    assert.match(rotated, /^New SQL-door certificate [0-9a-f]{64}/);
    assert.ok(!rotated.includes(before!.fingerprint));
    const settings = JSON.parse(await runAdminCommand(t.svc, ["settings"]));
    assert.deepEqual(settings.keys, {
      apiKeys: true,
      apiKeyExpiries: ["never"],
      sessionKeys: true,
    });
  },
);

backendTest(
  "runAdminCommand() refuses unknown commands, users and non-admins clearly",
  async (t) => {
    await createUser(t.svc, t.admin, { email: "bo@example.org", password: "bo-password-9" });
    await assert.rejects(runAdminCommand(t.svc, ["frobnicate"]), /Unknown command "frobnicate"/);
    await assert.rejects(
      runAdminCommand(t.svc, ["unlock", "nobody@example.org"]),
      /No user nobody/,
    );
    await assert.rejects(
      runAdminCommand(t.svc, ["unlock", ADMIN_EMAIL, "--as", "bo@example.org"]),
      /bo@example.org is not a site admin/,
    );
    assert.match(await runAdminCommand(t.svc, []), /deno task admin <command>/);
  },
);
