import assert from "node:assert/strict";
import { createApp } from "../../../routes/mod.ts";
import { complianceSettings } from "../../../src/auth/compliance.ts";
import { setPolicy } from "../../../src/data/containers.ts";
import { createUser, updateUser } from "../../../src/data/users.ts";
import { revokeKey } from "../../../src/doors/keys/mod.ts";
import { keySettings } from "../../../src/doors/keys/settings.ts";
import { createServices } from "../../../src/services.ts";
import {
  actorOf,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  backendTest,
  type TestContext,
} from "../../_support/backends.ts";
import { TestBrowser, textOf } from "../../_support/http.ts";
import { basic, browserOf, enableKeys } from "../../_support/keys.ts";
import { startDoor } from "../../wire/_door.ts";

const BOB = "bob@example.org";
const BOB_PASSWORD = "bob-password-1";

/** A request with only the key: no cookie, no CSRF token. */
async function withKey(
  t: TestContext,
  headers: Record<string, string>,
  path = "/api/me",
  init: RequestInit = {},
) {
  const response = await createApp(t.svc).request(path, {
    ...init,
    headers: { ...headers, ...(init.body ? { "content-type": "application/json" } : {}) },
  }, { clientAddr: "127.0.0.1" });
  return { status: response.status, body: await response.json() };
}

const refused = (message: string) => ({ status: 401, body: { error: { status: 401, message } } });

backendTest(
  "GET /api/me accepts a key as Basic password or apikey header, without CSRF",
  async (t) => {
    await enableKeys(t);
    const { makeKey } = await browserOf(t);
    const { key } = await makeKey({ kind: "api_key", expiry: "1w" });
    const viaBasic = await withKey(t, basic(key));
    assert.equal(viaBasic.status, 200);
    assert.equal(viaBasic.body.user.email, ADMIN_EMAIL);
    assert.equal(viaBasic.body.csrfToken, null);
    assert.equal((await withKey(t, { apikey: key }, "/api/folders")).status, 200);
  },
);

backendTest(
  "POST /api/folders works with a key and no CSRF token, not with a cookie",
  async (t) => {
    await enableKeys(t);
    const { browser, makeKey } = await browserOf(t);
    const { key } = await makeKey({ kind: "session_key" });
    const created = await withKey(t, basic(key), "/api/folders", {
      method: "POST",
      body: JSON.stringify({ parent: "/home", name: "bykey" }),
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.path, "/home/bykey");
    const cookieOnly = await browser.json("POST", "/api/folders", { parent: "/home", name: "x" });
    assert.equal(cookieOnly.status, 403);
    assert.match((await cookieOnly.json()).error.message, /CSRF token/);
  },
);

backendTest("keys are refused with an exact 401 for each reason", async (t) => {
  await enableKeys(t);
  await createUser(t.svc, t.admin, { email: BOB, password: BOB_PASSWORD });
  const admin = await browserOf(t);
  const bob = await browserOf(t, BOB, BOB_PASSWORD);

  assert.deepEqual(await withKey(t, {}), refused("Sign in first"));
  const unknown = "lgk_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  assert.deepEqual(await withKey(t, basic(unknown)), refused("Unknown API key"));
  assert.deepEqual(await withKey(t, { apikey: "not-a-key" }), refused("Unknown API key"));

  const expiring = await admin.makeKey({ kind: "api_key", expiry: "1w" });
  const revoked = await admin.makeKey({ kind: "api_key", expiry: "never" });
  const wrongSecret = revoked.key.slice(0, -4) + "AAAA";
  assert.deepEqual(await withKey(t, basic(wrongSecret)), refused("Unknown API key"));
  const del = await admin.browser.json("DELETE", `/api/keys/${revoked.id}`, undefined, {
    "x-csrf-token": admin.csrf,
  });
  assert.equal(del.status, 200);
  assert.deepEqual(await withKey(t, basic(revoked.key)), refused("API key revoked"));
  assert.deepEqual(await withKey(t, basic(wrongSecret)), refused("Unknown API key"));

  const bobApiKey = await bob.makeKey({ kind: "api_key", expiry: "never" });
  const bobSessionKey = await bob.makeKey({ kind: "session_key" });
  assert.equal((await withKey(t, basic(bobSessionKey.key))).status, 200);
  assert.equal((await bob.browser.postForm("/logout", { _csrf: bob.csrf })).status, 303);
  assert.deepEqual(
    await withKey(t, basic(bobSessionKey.key)),
    refused("Session key's browser session has ended"),
  );
  assert.equal((await withKey(t, basic(bobApiKey.key))).status, 200, "API keys outlive sessions");
  const listed: { id: string; status: string }[] =
    await (await admin.browser.get("/api/keys?all=true")).json();
  assert.equal(listed.find((k) => k.id === bobSessionKey.id)!.status, "session ended");
  assert.equal(listed.find((k) => k.id === revoked.id)!.status, "revoked");
  const bobUser = (await actorOf(t.svc, BOB)).userId;
  await updateUser(t.svc, t.admin, bobUser, { active: false });
  t.advance(1_001);
  assert.deepEqual(
    await withKey(t, basic(bobApiKey.key)),
    refused("This API key's account is deactivated: ask a site admin"),
  );

  const idle = await admin.makeKey({ kind: "session_key" });
  assert.equal((await withKey(t, basic(idle.key))).status, 200);
  t.advance(t.config.sessionIdleMinutes * 60_000 + 1_000);
  assert.deepEqual(
    await withKey(t, basic(idle.key)),
    refused("Session key's browser session has ended"),
  );

  t.advance(8 * 86_400_000);
  assert.deepEqual(await withKey(t, basic(expiring.key)), refused("API key expired"));

  await t.svc.audit.flush();
  const log = await t.svc.db.selectFrom("audit_log").selectAll().where("event", "=", "key.use")
    .execute();
  const messages = log.filter((e) => e.outcome === "denied").map((e) => e.message);
  for (
    const m of ["Unknown API key", "API key revoked", "Session key's browser session has ended"]
  ) {
    assert.ok(messages.includes(m), `refusal "${m}" is audited`);
  }
  const unknownUse = log.find((e) => e.credential_id === "0123456789abcdef")!;
  assert.equal(unknownUse.message, "Unknown API key");
  assert.equal(unknownUse.user_id, null, "an unverified key names no user");
  const revokedUse = log.find((e) => e.message === "API key revoked")!;
  assert.equal(revokedUse.credential_id, revoked.id);
  assert.equal(revokedUse.detail, "GET /api/me");
  const all = JSON.stringify(await t.svc.db.selectFrom("audit_log").selectAll().execute());
  for (const k of [expiring, revoked, bobApiKey, bobSessionKey, idle]) {
    assert.ok(!all.includes(k.key.split(".")[1]), "no secret in the audit log");
  }
});

backendTest("a key acts with its user's permissions: 403 without Admin on a folder", async (t) => {
  await enableKeys(t);
  const bobUser = await createUser(t.svc, t.admin, { email: BOB, password: BOB_PASSWORD });
  await setPolicy(t.svc, t.admin, "/home", {
    inherit: false,
    assignments: [{ principalId: bobUser.id, role: "reader" }],
  });
  const bob = await browserOf(t, BOB, BOB_PASSWORD);
  const { key } = await bob.makeKey({ kind: "api_key", expiry: "1w" });
  const folders = await withKey(t, { apikey: key }, "/api/folders?path=/home");
  assert.equal(folders.status, 200);
  assert.deepEqual(folders.body[0].permissions.names, ["READ"]);
  const refusedCreate = await withKey(t, { apikey: key }, "/api/folders", {
    method: "POST",
    body: JSON.stringify({ parent: "/home", name: "nope" }),
  });
  assert.deepEqual(refusedCreate, {
    status: 403,
    body: { error: { status: 403, message: "You do not have permission to do that in /home" } },
  });
  await t.svc.audit.flush();
  const use = await t.svc.db.selectFrom("audit_log").selectAll().where("event", "=", "key.use")
    .where("detail", "=", "POST /api/folders").executeTakeFirstOrThrow();
  assert.equal(use.outcome, "denied");
  assert.equal(use.user_id, bobUser.id);
  assert.equal(use.credential_kind, "api_key");
  const read = await t.svc.db.selectFrom("audit_log").selectAll().where("event", "=", "key.use")
    .where("detail", "=", "GET /api/folders").executeTakeFirstOrThrow();
  assert.equal(read.outcome, "ok");
  assert.equal(read.container_path, "/home");
});

backendTest("revokeKey() takes effect within 1 s on another instance's cache", async (t) => {
  await enableKeys(t);
  const { makeKey } = await browserOf(t);
  const { key, id } = await makeKey({ kind: "api_key", expiry: "never" });
  assert.equal((await withKey(t, basic(key))).status, 200, "now cached on this instance");
  const other = createServices(t.config, t.svc.database, { now: () => t.svc.now() });
  await revokeKey(other, t.admin, id);
  await other.audit.flush();
  t.advance(1_000);
  assert.deepEqual(await withKey(t, basic(key)), refused("API key revoked"));
});

backendTest("admins list and revoke anyone's keys; users see only their own", async (t) => {
  await enableKeys(t);
  await createUser(t.svc, t.admin, { email: BOB, password: BOB_PASSWORD });
  const admin = await browserOf(t);
  const bob = await browserOf(t, BOB, BOB_PASSWORD);
  const adminKey = await admin.makeKey({ kind: "api_key", expiry: "1w" });
  const bobKey = await bob.makeKey({ kind: "api_key", expiry: "1w" });

  const own = await (await bob.browser.get("/api/keys")).json();
  assert.deepEqual(own.map((k: { id: string }) => k.id), [bobKey.id]);
  assert.equal((await bob.browser.get("/api/keys?all=true")).status, 403);
  assert.ok(!(await (await bob.browser.get("/account/keys")).text()).includes(adminKey.id));
  assert.equal((await bob.browser.get("/admin/keys")).status, 403);
  const notYours = await bob.browser.json("DELETE", `/api/keys/${adminKey.id}`, undefined, {
    "x-csrf-token": bob.csrf,
  });
  assert.equal(notYours.status, 404);

  const page = textOf(await (await admin.browser.get("/admin/keys")).text());
  assert.match(page, new RegExp(bobKey.id));
  assert.match(page, /bob@example\.org/);
  const revoke = await admin.browser.postForm(`/admin/keys/${bobKey.id}/revoke`, {
    _csrf: admin.csrf,
  });
  assert.equal(revoke.status, 303);
  assert.deepEqual(await withKey(t, basic(bobKey.key)), refused("API key revoked"));
  assert.match(textOf(await (await bob.browser.get("/account/keys")).text()), /revoked/);
});

backendTest("POST /admin/keys saves settings and users get only allowed choices", async (t) => {
  const admin = await browserOf(t);
  const body = new URLSearchParams([
    ["_csrf", admin.csrf],
    ["apiKeys", "on"],
    ["apiKeyExpiries", "1m"],
    ["apiKeyExpiries", "1y"],
  ]);
  const saved = await admin.browser.request("/admin/keys", { method: "POST", body });
  assert.equal(saved.status, 303);
  assert.deepEqual(await t.svc.settings.get(keySettings), {
    apiKeys: true,
    apiKeyExpiries: ["1m", "1y"],
    sessionKeys: false,
  });
  const tools = await (await admin.browser.get("/account/external-tools")).text();
  assert.match(tools, /<option value="1y">1 year<\/option>/);
  assert.ok(!tools.includes('value="never"'));
  const never = await admin.browser.json("POST", "/api/keys", {
    kind: "api_key",
    expiry: "never",
  }, { "x-csrf-token": admin.csrf });
  assert.equal(never.status, 400);
  const session = await admin.browser.json("POST", "/api/keys", { kind: "session_key" }, {
    "x-csrf-token": admin.csrf,
  });
  assert.deepEqual(await session.json(), {
    error: { status: 403, message: "Session keys are turned off on this site: ask a site admin" },
  });
});

backendTest("GET /account/external-tools shows the key once and connection snippets", async (t) => {
  await enableKeys(t);
  const admin = await browserOf(t);
  const created = await admin.browser.postForm("/account/keys", {
    _csrf: admin.csrf,
    kind: "session_key",
  });
  assert.equal(created.status, 200);
  assert.equal(created.headers.get("cache-control"), "no-store");
  const html = await created.text();
  const key = /<code id="key-value">(lgs_[^<]+)<\/code>/.exec(html)![1];
  const text = textOf(html);
  assert.match(text, /psql "host=localhost port=5435 dbname=\/home user=apikey sslmode=require"/);
  assert.match(text, /jdbc:postgresql:\/\/localhost:5435\/%2Fhome\?sslmode=require/);
  assert.ok(text.includes(`machine localhost login apikey password ${key}`));
  assert.ok(text.includes(`labkey.setDefaults(apiKey = "${key}")`));
  assert.match(html, /href="\/sql-door\/certificate.pem"/);
  const again = await (await admin.browser.get("/account/external-tools")).text();
  assert.ok(!again.includes(key), "the key is never shown again");
});

backendTest("POST /login stores the declarations and session-key uses log them", async (t) => {
  await enableKeys(t);
  await t.svc.settings.set(complianceSettings, {
    required: true,
    termsText: "Use the data only for the approved study",
    termsVersion: "v3",
  });
  const app = createApp(t.svc);
  const browser = new TestBrowser(app);
  const form = await (await browser.get("/login")).text();
  assert.match(textOf(form), /Use the data only for the approved study/);
  const csrf = TestBrowser.csrf(form);
  const credentials = { _csrf: csrf, email: ADMIN_EMAIL, password: ADMIN_PASSWORD, next: "/" };
  const missing = await browser.postForm("/login", credentials);
  assert.equal(missing.status, 400);
  assert.match(textOf(await missing.text()), /Accept the terms of use to sign in/);
  const ok = await browser.postForm("/login", {
    ...credentials,
    terms_accepted: "on",
    irb_number: "IRB-2024-117",
    phi_level: "limited",
  });
  assert.equal(ok.status, 303);
  const declared = {
    termsAccepted: true,
    termsVersion: "v3",
    irbNumber: "IRB-2024-117",
    phiLevel: "limited",
  };
  const session = await t.svc.db.selectFrom("sessions").selectAll().executeTakeFirstOrThrow();
  assert.deepEqual(session.compliance, declared);

  const sessionCsrf = await browser.sessionCsrf();
  const made = await browser.json("POST", "/api/keys", { kind: "session_key" }, {
    "x-csrf-token": sessionCsrf,
  });
  const { key, id } = await made.json();
  assert.equal((await withKey(t, basic(key), "/api/folders")).status, 200);
  await t.svc.audit.flush();
  const use = await t.svc.db.selectFrom("audit_log").selectAll().where("event", "=", "key.use")
    .executeTakeFirstOrThrow();
  assert.equal(use.credential_kind, "session_key");
  assert.equal(use.credential_id, id);
  assert.equal(use.door, "key");
  assert.equal(use.outcome, "ok");
  // With the declarations, each access records the PHI level in force.
  assert.deepEqual(use.compliance, { ...declared, phiLevelInForce: "limited" });

  const api = await createApp(t.svc).request("/api/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
  });
  assert.equal(api.status, 400, "the JSON login asks for the same declarations");
});

backendTest(
  "connection snippets and the SQL-door page show the port the door listens on",
  async (t) => {
    await enableKeys(t);
    const { browser } = await browserOf(t);
    await using fx = await startDoor(t);
    assert.notEqual(fx.port, 5435, "an ephemeral port, unlike the setting");
    const tools = textOf(await (await browser.get("/account/external-tools")).text());
    assert.match(tools, new RegExp(`port=${fx.port} `));
    assert.doesNotMatch(tools, /port=5435/);
    const admin = textOf(await (await browser.get("/admin/sql-door")).text());
    assert.match(admin, new RegExp(`The SQL door listens on [^ ]+:${fx.port}\\.`));
    await fx.door.close();
    const after = textOf(await (await browser.get("/account/external-tools")).text());
    assert.match(after, /port=5435 /, "not listening here: the setting's port");
  },
);
