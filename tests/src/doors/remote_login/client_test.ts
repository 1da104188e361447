import assert from "node:assert/strict";
import { createApp } from "../../../../routes/mod.ts";
import { setPolicy } from "../../../../src/data/containers.ts";
import { createUser } from "../../../../src/data/users.ts";
import {
  decodePermissions,
  MemorySessionStore,
  parseTokenAuthentication,
  RemoteLoginClient,
} from "../../../../src/doors/remote_login/client.ts";
import { addSite } from "../../../../src/doors/remote_login/mod.ts";
import { remoteLoginSettings } from "../../../../src/doors/remote_login/settings.ts";
import { backendTest, type TestContext } from "../../../_support/backends.ts";
import { TestBrowser } from "../../../_support/http.ts";

const BASE = "https://labgate.example/";
const SITE = "https://app.example";
const READER = "reader@example.org";
const READER_PASSWORD = "reader-password-1";

Deno.test("parseTokenAuthentication() reads attributes and decodes entities", () => {
  assert.deepEqual(
    parseTokenAuthentication(
      `<?xml version="1.0" encoding="UTF-8"?>\n<TokenAuthentication success="true" ` +
        `email="a&amp;&quot;&lt;&#65;&#x42;@x" permissions='32783' />\n`,
    ),
    { success: "true", email: 'a&"<AB@x', permissions: "32783" },
  );
  assert.deepEqual(
    parseTokenAuthentication(
      `<TokenAuthentication success="false" message="No"></TokenAuthentication>`,
    ),
    { success: "false", message: "No" },
  );
});

Deno.test("parseTokenAuthentication() refuses anything but one TokenAuthentication element", () => {
  for (
    const text of [
      "<html>Sign in</html>",
      `<TokenAuthentication success="true">`,
      `<TokenAuthentication success="true" success="false"/>`,
      `<TokenAuthentication email="a&b"/>`,
      `<TokenAuthentication email="&nbsp;"/>`,
      `<TokenAuthentication success="true"/><Other/>`,
      `<TokenAuthentication success=true/>`,
    ]
  ) {
    assert.throws(() => parseTokenAuthentication(text), Error, text);
  }
});

Deno.test("decodePermissions() names the bits of the contract", () => {
  assert.deepEqual([...decodePermissions(0)], []);
  assert.deepEqual([...decodePermissions(1)], ["READ"]);
  assert.deepEqual([...decodePermissions(0x800f)], ["READ", "INSERT", "UPDATE", "DELETE", "ADMIN"]);
  assert.deepEqual([...decodePermissions(0x8000 | 0x4)], ["UPDATE", "ADMIN"]);
});

Deno.test("RemoteLoginClient.loginRedirectUrl() and readReturn() build and read the redirects", () => {
  const client = new RemoteLoginClient({ baseUrl: "https://labgate.example/lab" });
  const returnUrl = "https://app.example/page?x=1#top";
  const login = new URL(client.loginRedirectUrl(returnUrl));
  assert.equal(login.origin + login.pathname, "https://labgate.example/lab/login/createToken.view");
  assert.equal(login.searchParams.get("returnUrl"), returnUrl);
  assert.equal(client.readReturn(returnUrl), null);
  const back = "https://app.example/page?x=a%20b&labkeyToken=abc&labkeyEmail=r%40x.org#top";
  assert.deepEqual(client.readReturn(back), { token: "abc", email: "r@x.org" });
  assert.equal(client.stripReturn(back), "https://app.example/page?x=a%20b#top");
  const out = new URL(client.invalidateRedirectUrl("abc", "https://app.example/"));
  assert.equal(out.pathname, "/lab/login/invalidateToken.view");
  assert.equal(out.searchParams.get("labkeyToken"), "abc");
  assert.equal(out.searchParams.get("returnUrl"), "https://app.example/");
});

/** A client whose fetch calls the app directly, a signed-in browser, and its token. */
async function setup(t: TestContext, cacheMs = 0) {
  const app = createApp(t.svc);
  await addSite(t.svc, t.admin, { name: "Lab app", prefixes: [SITE] });
  const reader = await createUser(t.svc, t.admin, { email: READER, password: READER_PASSWORD });
  await setPolicy(t.svc, t.admin, "/home", {
    inherit: false,
    assignments: [{ principalId: reader.id, role: "author" }],
  });
  let clock = 0;
  let calls = 0;
  const store = new MemorySessionStore();
  const client = new RemoteLoginClient({
    baseUrl: BASE,
    cacheMs,
    store,
    now: () => clock,
    fetch: (input, init) => {
      calls++;
      return Promise.resolve(app.request(String(input), init, { clientAddr: "10.0.0.2" }));
    },
  });
  const browser = new TestBrowser(app);
  await browser.signIn(READER, READER_PASSWORD);
  const login = new URL(client.loginRedirectUrl(`${SITE}/page`));
  const response = await browser.get(login.pathname + login.search);
  const location = response.headers.get("location")!;
  return {
    client,
    store,
    browser,
    reader,
    location,
    calls: () => calls,
    tick: (ms: number) => (clock += ms),
  };
}

backendTest("RemoteLoginClient.verify() decodes permissions and refuses dead tokens", async (t) => {
  const { client, browser, location } = await setup(t);
  const identity = await client.completeLogin("s1", location);
  assert.ok(identity);
  assert.equal(identity.email, READER);
  assert.deepEqual(await client.identity("s1"), identity);
  const home = await client.verify(identity.token, "/home");
  assert.deepEqual(home, {
    success: true,
    email: READER,
    bits: 3,
    permissions: new Set(["READ", "INSERT"]),
  });
  const root = await client.verify(identity.token, "/");
  assert.ok(root.success);
  assert.equal(root.bits, 0);
  assert.equal(root.permissions.size, 0);
  const missing = await client.verify(identity.token, "/home/none");
  assert.ok(missing.success && missing.bits === 0);

  await browser.postForm("/logout", { _csrf: await browser.sessionCsrf() });
  const after = await client.verify(identity.token, "/home");
  assert.equal(after.success, false);
  assert.ok(!after.success && /Unknown or invalidated token/.test(after.message));
});

backendTest(
  "RemoteLoginClient.verify() caches answers per token and folder for cacheMs",
  async (t) => {
    const { client, location, reader, calls, tick } = await setup(t, 30_000);
    const { token } = client.readReturn(location)!;
    assert.equal((await client.verify(token, "/home")).success, true);
    assert.equal((await client.verify(token, "/home")).success, true);
    assert.equal(calls(), 1, "the second answer came from the cache");
    await client.verify(token, "/");
    assert.equal(calls(), 2, "another folder is another entry");
    await setPolicy(t.svc, t.admin, "/home", {
      inherit: false,
      assignments: [{ principalId: reader.id, role: "editor" }],
    });
    assert.equal(((await client.verify(token, "/home")) as { bits: number }).bits, 3);
    tick(30_001);
    assert.equal(((await client.verify(token, "/home")) as { bits: number }).bits, 15);
    assert.equal(calls(), 3);
  },
);

backendTest(
  "RemoteLoginClient.logout() forgets the session and invalidates the token",
  async (t) => {
    const { client, store, location } = await setup(t, 30_000);
    const identity = (await client.completeLogin("s1", location))!;
    assert.equal((await client.verify(identity.token, "/home")).success, true);
    await client.logout("s1");
    assert.equal(store.get("s1"), undefined);
    assert.equal(await client.identity("s1"), null);
    assert.equal((await client.verify(identity.token, "/home")).success, false, "no cached answer");
    assert.equal(await client.invalidate(identity.token), false, "already invalidated");
  },
);

backendTest("RemoteLoginClient.verify() throws when labgate does not answer 200", async (t) => {
  const { client, location } = await setup(t);
  const { token } = client.readReturn(location)!;
  await t.svc.settings.set(remoteLoginSettings, {
    ...remoteLoginSettings.defaults,
    verifyPerMinute: 1,
  });
  await client.verify(token, "/home");
  await assert.rejects(client.verify(token, "/home"), /labgate answered 429 to verifyToken/);
});
