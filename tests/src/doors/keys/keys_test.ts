import assert from "node:assert/strict";
import { presentedKey, resolveKeySecret } from "../../../../src/doors/keys/door.ts";
import {
  CACHE_MS,
  createApiKey,
  createSessionKey,
  generateKey,
  KEY_PATTERN,
  LAST_USED_EVERY_MS,
  parseKey,
  verifyKey,
} from "../../../../src/doors/keys/mod.ts";
import { backendTest } from "../../../_support/backends.ts";
import { browserAdmin, fromBase64Url } from "../../../_support/keys.ts";

Deno.test("generateKey() makes prefixed id.secret keys with 256 random bits", async () => {
  const api = await generateKey("api_key");
  const session = await generateKey("session_key");
  assert.match(api.key, /^lgk_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
  assert.match(session.key, /^lgs_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
  assert.match(api.key, KEY_PATTERN);
  const secret = api.key.split(".")[1];
  assert.equal(fromBase64Url(secret).length, 32);
  assert.equal(api.secretHash.length, 64);
  assert.notEqual(api.secretHash, secret);
  const many = new Set<string>();
  for (let i = 0; i < 200; i++) many.add((await generateKey("api_key")).key);
  assert.equal(many.size, 200);
});

Deno.test("parseKey() splits our keys and rejects anything else", () => {
  const key = "lgs_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  assert.deepEqual(parseKey(key), {
    kind: "session_key",
    id: "0123456789abcdef",
    secret: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  });
  for (const bad of ["", "lgk_", "lgx_0123456789abcdef.AAAA", key + "A", key.replace(".", "_")]) {
    assert.equal(parseKey(bad), null, bad);
  }
});

Deno.test("presentedKey() reads Basic apikey:<key> and the apikey header only", () => {
  const basic = (s: string) => new Headers({ authorization: `Basic ${btoa(s)}` });
  assert.equal(presentedKey(basic("apikey:lgk_x.y")), "lgk_x.y");
  assert.equal(presentedKey(new Headers({ apikey: " lgs_a.b " })), "lgs_a.b");
  assert.equal(presentedKey(basic("alice:secret")), null);
  assert.equal(presentedKey(new Headers({ authorization: "Bearer lgk_x.y" })), null);
  assert.equal(presentedKey(new Headers({ authorization: "Basic %%%" })), null);
  assert.equal(presentedKey(new Headers()), null);
});

backendTest("createApiKey() stores only the SHA-256 of the secret", async (t) => {
  const actor = await browserAdmin(t);
  const { key, view } = await createApiKey(t.svc, actor, { expiry: "1w", description: "R" });
  const [, secret] = key.split(".");
  const row = await t.svc.db.selectFrom("keys").selectAll().where("id", "=", view.id)
    .executeTakeFirstOrThrow();
  const stored = JSON.stringify(row);
  assert.ok(!stored.includes(secret), "the secret is not in the row");
  assert.ok(!stored.includes(key), "the key is not in the row");
  assert.equal(row.secret_hash.length, 64);
  assert.equal(row.kind, "api_key");
  assert.equal(row.expires_at!.getTime() - row.created_at.getTime(), 7 * 86_400_000);
  await assert.rejects(
    createApiKey(t.svc, actor, { expiry: "1y" }),
    /Choose an expiry this site allows: 1w, never/,
  );
  await assert.rejects(
    createApiKey(t.svc, { ...actor, session: undefined }, { expiry: "1w" }),
    /Create keys from a signed-in browser session/,
  );
});

backendTest("verifyKey() answers from its cache and writes last_used_at rarely", async (t) => {
  const actor = await browserAdmin(t);
  const { key, view } = await createSessionKey(t.svc, actor);
  const context = { door: "key" as const, clientAddr: "127.0.0.1" };
  const first = await verifyKey(t.svc, key, context);
  assert.deepEqual(first.credential, { kind: "session_key", id: view.id });
  assert.deepEqual(first.compliance, { termsAccepted: true, irbNumber: "IRB-1", phiLevel: "none" });
  assert.equal(first.session, undefined, "a key actor never needs a CSRF token");
  const used = await t.svc.db.selectFrom("keys").select("last_used_at").where("id", "=", view.id)
    .executeTakeFirstOrThrow();
  assert.ok(used.last_used_at);

  // With the row gone, only the cache can answer: it does, for at most CACHE_MS.
  await t.svc.db.deleteFrom("keys").where("id", "=", view.id).execute();
  assert.equal((await verifyKey(t.svc, key, context)).userId, t.admin.userId);
  t.advance(CACHE_MS);
  await assert.rejects(verifyKey(t.svc, key, context), /Unknown API key/);

  const api = await createApiKey(t.svc, actor, { expiry: "never" });
  await verifyKey(t.svc, api.key, context);
  const stamp = async () =>
    (await t.svc.db.selectFrom("keys").select("last_used_at").where("id", "=", api.view.id)
      .executeTakeFirstOrThrow()).last_used_at!.getTime();
  const before = await stamp();
  t.advance(2_000);
  await verifyKey(t.svc, api.key, context);
  assert.equal(await stamp(), before, "not rewritten within minutes");
  t.advance(LAST_USED_EVERY_MS);
  await verifyKey(t.svc, api.key, context);
  assert.ok((await stamp()) > before);
});

backendTest(
  "resolveKeySecret() takes keys as the apikey password, with their user's record",
  async (t) => {
    const actor = await browserAdmin(t);
    const { key } = await createApiKey(t.svc, actor, { expiry: "never" });
    const login = { user: "apikey", secret: key, clientAddr: "10.0.0.5" };
    const { actor: ok, user } = await resolveKeySecret(t.svc, login);
    assert.equal(ok.door, "sql");
    assert.equal(ok.credential.kind, "api_key");
    assert.equal(ok.userId, t.admin.userId);
    // The user's whole record, as the key's verification read it: the SQL door's login needs it.
    assert.equal(user.id, t.admin.userId);
    assert.equal(user.email, ok.email);
    await assert.rejects(
      resolveKeySecret(t.svc, { ...login, user: "admin" }),
      /Only user "apikey"/,
    );
    await assert.rejects(
      resolveKeySecret(t.svc, { ...login, secret: key.slice(0, -1) + "x" }),
      (e: Error & { status?: number }) => e.status === 401 && e.message === "Unknown API key",
    );
    await t.svc.audit.flush();
    const denied = await t.svc.db.selectFrom("audit_log").selectAll()
      .where("event", "=", "key.login").execute();
    assert.equal(denied.length, 2);
    assert.ok(!JSON.stringify(denied).includes(key.split(".")[1]));
  },
);
