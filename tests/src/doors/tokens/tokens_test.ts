import assert from "node:assert/strict";
import { createUser } from "../../../../src/data/users.ts";
import { sha256Hex } from "../../../../src/security/secrets.ts";
import {
  createExternalApp,
  parseTokenValue,
  resolveTokenSecret,
  tokenSettings,
  updateExternalApp,
} from "../../../../src/doors/tokens/mod.ts";
import { backendTest } from "../../../_support/backends.ts";
import { tokenWorld } from "../../../_support/tokens.ts";

Deno.test("parseTokenValue() splits lgt_<id>.<secret> and rejects anything else", () => {
  assert.deepEqual(parseTokenValue("lgt_0123456789abcdef.s3cret"), {
    id: "0123456789abcdef",
    secret: "s3cret",
  });
  for (const bad of ["", "lgt_", "lgt_0123456789abcdef", "xyz_0123456789abcdef.s", "lgt_zz.s"]) {
    assert.equal(parseTokenValue(bad), null, bad);
  }
});

backendTest("createToken() stores only the SHA-256 of the secret", async (t) => {
  const world = await tokenWorld(t);
  const { id, value } = await world.token();
  const { secret } = parseTokenValue(value)!;
  assert.ok(secret.length >= 32);
  const row = await t.svc.db.selectFrom("auth_tokens").selectAll().where("id", "=", id)
    .executeTakeFirstOrThrow();
  assert.equal(row.secret_hash, await sha256Hex(secret));
  assert.ok(!JSON.stringify(row).includes(secret));
  assert.equal(row.expires_at.getTime() > t.svc.now().getTime() + 29 * 86_400_000, true);
  await t.svc.audit.flush();
  const audit = await t.svc.db.selectFrom("audit_log").selectAll().execute();
  assert.ok(!JSON.stringify(audit).includes(secret));
});

backendTest(
  "createExternalApp() stops at tokens.maxApps and built-in apps are view-only",
  async (t) => {
    await t.svc.settings.set(tokenSettings, { maxApps: 3, allowTokenInRequest: false });
    await createExternalApp(t.svc, t.admin, { id: "third" });
    await assert.rejects(
      createExternalApp(t.svc, t.admin, { id: "fourth" }),
      /The limit of 3 external apps is reached/,
    );
    await assert.rejects(
      updateExternalApp(t.svc, t.admin, "instrument-collector", { status: "disabled" }),
      /instrument-collector is a built-in app and is view-only/,
    );
  },
);

backendTest("createUser() requires an app user's app to exist", async (t) => {
  await assert.rejects(
    createUser(t.svc, t.admin, {
      email: "x@apps.example.org",
      userType: "app",
      externalAppId: "ghost",
    }),
    /No external app "ghost"/,
  );
});

backendTest("resolveTokenSecret() needs the sql entry point", async (t) => {
  const world = await tokenWorld(t);
  const { value } = await world.token();
  await assert.rejects(
    resolveTokenSecret(t.svc, { secret: value, clientAddr: "10.0.0.5" }),
    /may not use the SQL door/,
  );
  await updateExternalApp(t.svc, t.admin, world.app.id, { entryPoints: ["sql"] });
  const actor = await resolveTokenSecret(t.svc, { secret: value, clientAddr: null });
  assert.equal(actor.email, world.appUser.email);
  assert.equal(actor.credential.kind, "token");
  assert.equal(actor.door, "sql");
  await assert.rejects(
    resolveTokenSecret(t.svc, { secret: `${value}x`, clientAddr: null }),
    /Unknown auth token/,
  );
});
