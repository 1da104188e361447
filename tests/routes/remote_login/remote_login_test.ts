import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import type { Hono } from "hono";
import type { Env } from "../../../routes/http/context.ts";
import { createApp } from "../../../routes/mod.ts";
import { createContainer, setPolicy } from "../../../src/data/containers.ts";
import { createUser } from "../../../src/data/users.ts";
import { addSite } from "../../../src/doors/remote_login/mod.ts";
import { remoteLoginSettings } from "../../../src/doors/remote_login/settings.ts";
import { ALL_PERMISSIONS } from "../../../src/security/permissions.ts";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  backendTest,
  type TestContext,
} from "../../_support/backends.ts";
import { TestBrowser, textOf } from "../../_support/http.ts";

const READER = "reader@example.org";
const READER_PASSWORD = "reader-password-1";
const SITE = "https://app.example";

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" });

/** The attributes of a well-formed `<TokenAuthentication/>` answer. */
async function tokenXml(response: Response): Promise<Record<string, string>> {
  assert.match(response.headers.get("content-type") ?? "", /^text\/xml/);
  const text = await response.text();
  assert.equal(XMLValidator.validate(text), true, `well-formed XML: ${text}`);
  const doc = parser.parse(text);
  assert.ok(doc.TokenAuthentication !== undefined, text);
  return doc.TokenAuthentication;
}

async function setup(t: TestContext) {
  const app = createApp(t.svc);
  await addSite(t.svc, t.admin, { name: "Lab app", prefixes: [SITE] });
  const reader = await createUser(t.svc, t.admin, { email: READER, password: READER_PASSWORD });
  await setPolicy(t.svc, t.admin, "/home", {
    inherit: false,
    assignments: [{ principalId: reader.id, role: "reader" }],
  });
  const browser = new TestBrowser(app);
  await browser.signIn(READER, READER_PASSWORD);
  return { app, browser, reader };
}

/** Runs createToken.view with a signed-in browser; returns where it sent the browser. */
async function createToken(browser: TestBrowser, returnUrl = `${SITE}/page`): Promise<URL> {
  const response = await browser.get(
    `/login/createToken.view?returnUrl=${encodeURIComponent(returnUrl)}`,
  );
  assert.equal(response.status, 303, await response.text());
  return new URL(response.headers.get("location")!);
}

async function tokenOf(browser: TestBrowser): Promise<string> {
  return (await createToken(browser)).searchParams.get("labkeyToken")!;
}

function verify(app: Hono<Env>, folder: string, token: string, clientAddr = "10.0.0.1") {
  const path = folder === "/" ? "/login/verifyToken.view" : `/login${folder}/verifyToken.view`;
  return app.request(`${path}?labkeyToken=${encodeURIComponent(token)}`, {}, { clientAddr });
}

backendTest(
  "GET /login/createToken.view signs in first, then returns with a hashed token",
  async (t) => {
    const { app } = await setup(t);
    const browser = new TestBrowser(app);
    const returnUrl = `${SITE}/page?x=1&y=a%20b&labkeyToken=stale#section-2`;
    const start = `/login/createToken.view?returnUrl=${encodeURIComponent(returnUrl)}`;
    const first = await browser.get(start);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get("location"), `/login?next=${encodeURIComponent(start)}`);
    const signedIn = await browser.signIn(READER, READER_PASSWORD, start);
    assert.equal(signedIn.headers.get("location"), start);
    const back = await browser.get(start);
    assert.equal(back.status, 303);
    const location = back.headers.get("location")!;
    const match =
      /^https:\/\/app\.example\/page\?x=1&y=a%20b&labkeyToken=([0-9a-f]+)&labkeyEmail=reader%40example\.org#section-2$/
        .exec(location);
    assert.ok(match, location);
    const token = match[1];
    assert.ok(token.length >= 32, "at least 128 bits");
    const rows = await t.svc.db.selectFrom("remote_login_tokens").selectAll().execute();
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(token), "the token is stored only as a hash");
    await t.svc.audit.flush();
    const audit = await t.svc.db.selectFrom("audit_log").selectAll()
      .where("event", "=", "remote.create").execute();
    assert.equal(audit.length, 1);
    assert.equal(audit[0].door, "remote");
    assert.ok(!JSON.stringify(audit).includes(token), "no token in the audit log");
  },
);

backendTest(
  "GET /login/createToken.view refuses an unregistered returnUrl without redirecting",
  async (t) => {
    const { browser } = await setup(t);
    for (
      const url of [
        "https://evil.example/page",
        "https://app.example.evil.example/",
        "javascript:alert(1)",
        "//evil.example/",
        "https://user@app.example/",
      ]
    ) {
      const response = await browser.get(
        `/login/createToken.view?returnUrl=${encodeURIComponent(url)}`,
      );
      assert.equal(response.status, 400, url);
      assert.equal(response.headers.get("location"), null);
      assert.match(textOf(await response.text()), /returnUrl|registered cooperating site/);
    }
    const missing = await browser.get("/login/createToken.view");
    assert.equal(missing.status, 400);
    assert.match(textOf(await missing.text()), /The returnUrl parameter is missing/);
    const unregistered = await browser.get(
      `/login/createToken.view?returnUrl=${encodeURIComponent("https://evil.example/x")}`,
    );
    assert.match(
      textOf(await unregistered.text()),
      /https:\/\/evil\.example is not a registered cooperating site/,
    );

    await t.svc.settings.set(remoteLoginSettings, {
      ...remoteLoginSettings.defaults,
      allowAnyReturnUrl: true,
    });
    const dev = await createToken(browser, "http://localhost:3000/dev");
    assert.equal(dev.origin, "http://localhost:3000");
  },
);

backendTest(
  "GET /login/<folder>/verifyToken.view answers the user's bits on nested and root paths",
  async (t) => {
    const { app, browser } = await setup(t);
    await createContainer(t.svc, t.admin, { parentPath: "/home", name: "sub" });
    const token = await tokenOf(browser);
    const home = await tokenXml(await verify(app, "/home", token));
    assert.deepEqual(home, {
      success: "true",
      token,
      email: READER,
      permissions: "1",
      phiLevel: "not_phi",
    });
    assert.equal((await tokenXml(await verify(app, "/home/sub", token))).permissions, "1");
    assert.equal((await tokenXml(await verify(app, "/", token))).permissions, "0");

    const admin = new TestBrowser(app);
    await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const adminToken = await tokenOf(admin);
    const root = await tokenXml(await verify(app, "/", adminToken));
    assert.equal(root.permissions, String(ALL_PERMISSIONS));
    assert.equal(root.email, ADMIN_EMAIL);
    await t.svc.audit.flush();
    const audit = await t.svc.db.selectFrom("audit_log").selectAll()
      .where("event", "=", "remote.verify").orderBy("id").execute();
    assert.equal(audit.length, 4);
    assert.equal(audit[0].door, "remote");
    assert.equal(audit[0].outcome, "ok");
    assert.equal(audit[0].user_email, READER);
    assert.equal(audit[0].container_path, "/home");
    assert.equal(audit[0].client_addr, "10.0.0.1");
    assert.match(audit[0].credential_id!, /^[0-9a-f]{12}$/);
    assert.ok(!token.startsWith(audit[0].credential_id!), "the audit id is not part of the token");
    assert.ok(!JSON.stringify(audit).includes(token), "no token in the audit log");
  },
);

backendTest(
  "GET /login/<folder>/verifyToken.view answers 0 for unreadable and missing folders alike",
  async (t) => {
    const { app, browser } = await setup(t);
    await createContainer(t.svc, t.admin, { parentPath: "/", name: "secret" });
    await setPolicy(t.svc, t.admin, "/secret", { inherit: false, assignments: [] });
    const token = await tokenOf(browser);
    const secret = await tokenXml(await verify(app, "/secret", token));
    const missing = await tokenXml(await verify(app, "/no/such/folder", token));
    const invalid = await tokenXml(await verify(app, "/bad name!", token));
    assert.deepEqual(secret, {
      success: "true",
      token,
      email: READER,
      permissions: "0",
      phiLevel: "not_phi",
    });
    assert.deepEqual(missing, secret);
    assert.deepEqual(invalid, secret);
  },
);

backendTest(
  "GET /login/<folder>/verifyToken.view reflects a permission change immediately",
  async (t) => {
    const { app, browser, reader } = await setup(t);
    const token = await tokenOf(browser);
    assert.equal((await tokenXml(await verify(app, "/home", token))).permissions, "1");
    await setPolicy(t.svc, t.admin, "/home", {
      inherit: false,
      assignments: [{ principalId: reader.id, role: "editor" }],
    });
    assert.equal((await tokenXml(await verify(app, "/home", token))).permissions, "15");
    await setPolicy(t.svc, t.admin, "/home", { inherit: false, assignments: [] });
    assert.equal((await tokenXml(await verify(app, "/home", token))).permissions, "0");
  },
);

backendTest(
  "GET /login/<folder>/verifyToken.view refuses unknown, expired, invalidated and logged-out tokens",
  async (t) => {
    const { app, browser } = await setup(t);
    const unknown = await tokenXml(await verify(app, "/home", "0".repeat(40)));
    assert.equal(unknown.success, "false");
    assert.match(unknown.message, /^Unknown or invalidated token/);
    assert.equal(unknown.token, undefined);
    const garbage = await tokenXml(await verify(app, "/home", "<&>"));
    assert.equal(garbage.success, "false");
    const missing = await app.request("/login/home/verifyToken.view", {}, { clientAddr: "x" });
    assert.equal(missing.status, 400);
    assert.match((await tokenXml(missing)).message, /labkeyToken parameter is missing/);

    await t.svc.settings.set(remoteLoginSettings, {
      ...remoteLoginSettings.defaults,
      tokenMinutes: 5,
    });
    const expiring = await tokenOf(browser);
    t.advance(6 * 60_000);
    const expired = await tokenXml(await verify(app, "/home", expiring));
    assert.equal(expired.success, "false");
    assert.match(expired.message, /^The token has expired/);

    const invalidated = await tokenOf(browser);
    const answer = await app.request(`/login/invalidateToken.view?labkeyToken=${invalidated}`);
    assert.deepEqual(await tokenXml(answer), { success: "true" });
    assert.equal((await tokenXml(await verify(app, "/home", invalidated))).success, "false");
    const again = await app.request(`/login/invalidateToken.view?labkeyToken=${invalidated}`);
    assert.equal((await tokenXml(again)).success, "false");

    const redirected = await tokenOf(browser);
    const back = await browser.get(
      `/login/invalidateToken.view?labkeyToken=${redirected}&returnUrl=${
        encodeURIComponent(`${SITE}/bye`)
      }`,
    );
    assert.equal(back.status, 303);
    assert.equal(back.headers.get("location"), `${SITE}/bye`);
    assert.equal((await tokenXml(await verify(app, "/home", redirected))).success, "false");
    const refused = await browser.get(
      `/login/invalidateToken.view?labkeyToken=${redirected}&returnUrl=${
        encodeURIComponent("https://evil.example/")
      }`,
    );
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get("location"), null);

    const beforeLogout = await tokenOf(browser);
    assert.equal((await tokenXml(await verify(app, "/home", beforeLogout))).success, "true");
    await browser.postForm("/logout", { _csrf: await browser.sessionCsrf() });
    const loggedOut = await tokenXml(await verify(app, "/home", beforeLogout));
    assert.equal(loggedOut.success, "false");
    assert.equal(
      await t.svc.db.selectFrom("remote_login_tokens").select("id").executeTakeFirst(),
      undefined,
      "logout deleted the session's tokens",
    );
  },
);

backendTest(
  "GET /login/<folder>/verifyToken.view refuses a token once its session is idle too long",
  async (t) => {
    const { app, browser } = await setup(t);
    const token = await tokenOf(browser);
    t.advance(t.config.sessionIdleMinutes * 60_000 + 1000);
    const idle = await tokenXml(await verify(app, "/home", token));
    assert.equal(idle.success, "false");
    assert.match(idle.message, /session of this token has ended/);
  },
);

backendTest(
  "GET /login/<folder>/verifyToken.view is rate limited per client address",
  async (t) => {
    const { app, browser } = await setup(t);
    await t.svc.settings.set(remoteLoginSettings, {
      ...remoteLoginSettings.defaults,
      verifyPerMinute: 3,
    });
    const token = await tokenOf(browser);
    for (let i = 0; i < 3; i++) {
      assert.equal((await verify(app, "/home", token, "10.0.0.9")).status, 200);
    }
    const limited = await verify(app, "/home", token, "10.0.0.9");
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    const answer = await tokenXml(limited);
    assert.equal(answer.success, "false");
    assert.match(answer.message, /^Too many verify requests from this address: try again in/);
    assert.equal((await verify(app, "/home", token, "10.0.0.10")).status, 200, "others still pass");
    t.advance(61_000);
    assert.equal((await verify(app, "/home", token, "10.0.0.9")).status, 200);
  },
);

backendTest("GET /login/<folder>/verifyToken.view escapes the email in the XML", async (t) => {
  const { app, browser, reader } = await setup(t);
  const odd = `o'd&"<x>@example.org`;
  await t.svc.db.updateTable("users").set({ email: odd }).where("id", "=", reader.id).execute();
  const token = await tokenOf(browser);
  const response = await verify(app, "/home", token);
  const text = await response.clone().text();
  assert.ok(text.includes(`email="o&apos;d&amp;&quot;&lt;x&gt;@example.org"`), text);
  assert.equal((await tokenXml(response)).email, odd);
});

backendTest("GET /admin/remote-sites adds and removes sites and saves settings", async (t) => {
  const { app } = await setup(t);
  const reader = new TestBrowser(app);
  await reader.signIn(READER, READER_PASSWORD);
  assert.equal((await reader.get("/admin/remote-sites")).status, 403);

  const admin = new TestBrowser(app);
  await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  const page = await admin.get("/admin/remote-sites");
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(textOf(html), /Lab app https:\/\/app\.example/);
  assert.match(textOf(html), /Allow any returnUrl \(development only\)/);
  const csrf = TestBrowser.csrf(html);
  const bad = await admin.postForm("/admin/remote-sites", {
    _csrf: csrf,
    _action: "add",
    name: "Bad",
    prefixes: "ftp://files.example",
  });
  assert.equal(bad.status, 400);
  assert.match(textOf(await bad.text()), /must start with http:\/\/ or https:\/\//);
  const added = await admin.postForm("/admin/remote-sites", {
    _csrf: csrf,
    _action: "add",
    name: "Notebook",
    prefixes: "http://localhost:8090/app/\nhttps://nb.example/",
  });
  assert.equal(added.status, 303);
  const sites = await t.svc.db.selectFrom("remote_sites").selectAll().orderBy("name").execute();
  assert.deepEqual(sites.map((s) => s.prefixes), [
    [SITE],
    ["http://localhost:8090/app/", "https://nb.example"],
  ]);
  assert.equal((await createToken(admin, "http://localhost:8090/app/x")).port, "8090");
  const outside = await admin.get(
    `/login/createToken.view?returnUrl=${encodeURIComponent("http://localhost:8090/other")}`,
  );
  assert.equal(outside.status, 400);

  const removed = await admin.postForm("/admin/remote-sites", {
    _csrf: csrf,
    _action: "remove",
    site: String(sites[1].id),
  });
  assert.equal(removed.status, 303);
  assert.equal((await t.svc.db.selectFrom("remote_sites").selectAll().execute()).length, 1);

  const saved = await admin.postForm("/admin/remote-sites", {
    _csrf: csrf,
    _action: "settings",
    tokenMinutes: "15",
    verifyPerMinute: "100",
    phiLevel: "limited",
    allowAnyReturnUrl: "on",
  });
  assert.equal(saved.status, 303);
  assert.deepEqual(await t.svc.settings.get(remoteLoginSettings), {
    allowAnyReturnUrl: true,
    tokenMinutes: 15,
    verifyPerMinute: 100,
    phiLevel: "limited",
  });
});
