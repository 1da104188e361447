import assert from "node:assert/strict";
import { createApp } from "../../../routes/mod.ts";
import { APP_USER_REFUSED } from "../../../src/auth/login.ts";
import { createServices } from "../../../src/services.ts";
import { updateUser } from "../../../src/data/users.ts";
import {
  createExternalApp,
  TOKEN_CACHE_MS,
  updateExternalApp,
  updateToken,
} from "../../../src/doors/tokens/mod.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, backendTest } from "../../_support/backends.ts";
import { TestBrowser } from "../../_support/http.ts";
import {
  ANA,
  APP_PASSWORD,
  APP_USER,
  caller,
  FOLDER,
  LIST,
  RITA,
  tokenWorld,
} from "../../_support/tokens.ts";

backendTest("tokenSource() stops every token of a disabled app at once", async (t) => {
  const world = await tokenWorld(t);
  const call = caller(createApp(t.svc));
  const { value } = await world.token();
  assert.equal((await call(value)).status, 200);
  const edit = { entryPoints: ["rest", "action"] as ("rest" | "action")[] };
  await updateExternalApp(t.svc, t.admin, world.app.id, { ...edit, status: "disabled" });
  assert.equal((await call(value)).status, 403);
  assert.equal((await call(value, { entry: "action" })).status, 403);
  await updateExternalApp(t.svc, t.admin, world.app.id, { ...edit, status: "active" });
  assert.equal((await call(value)).status, 200);
});

backendTest("tokenSource() enforces entry points and the REST policy", async (t) => {
  const world = await tokenWorld(t);
  const call = caller(createApp(t.svc));
  const { value } = await world.token();
  await updateExternalApp(t.svc, t.admin, world.app.id, {
    entryPoints: ["rest"],
    restReadOnly: true,
    restPaths: ["/api/folders*"],
  });
  const action = await caller(createApp(t.svc))(value, { entry: "action" });
  assert.equal(action.status, 403);
  const app = createApp(t.svc);
  const refused = await app.request("/actions/selectRows", {
    method: "POST",
    headers: { authorization: `Token ${value}` },
    body: "{}",
  });
  assert.match((await refused.json()).error.message, /may not use the Action endpoint/);
  assert.equal((await call(value, { method: "POST", body: {} })).status, 403);
  assert.equal((await call(value, { path: "/api/users" })).status, 403);
  assert.equal((await call(value)).status, 200);
});

backendTest(
  "requestToken() makes a pending token that works once an admin approves it",
  async (t) => {
    await tokenWorld(t);
    const app = createApp(t.svc);
    const call = caller(app);
    const basic = `Basic ${btoa(`${APP_USER}:${APP_PASSWORD}`)}`;
    const wrong = await app.request("/api/tokens/request", {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${APP_USER}:nope-nope`)}` },
    });
    assert.equal(wrong.status, 401);
    const response = await app.request("/api/tokens/request", {
      method: "POST",
      headers: { authorization: basic, "content-type": "application/json" },
      body: JSON.stringify({ reason: "Nightly upload" }),
    });
    assert.equal(response.status, 201);
    const { id, token, status } = await response.json();
    assert.equal(status, "pending");
    assert.equal((await call(token)).status, 401);

    const browser = new TestBrowser(app);
    await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const list = await (await browser.get("/admin/auth-tokens")).text();
    assert.ok(list.indexOf(id) < list.indexOf("Nightly upload"));
    assert.match(list, /Pending Approval/);
    const approved = await browser.postForm(`/admin/auth-tokens/${id}`, {
      _csrf: await browser.sessionCsrf(),
      _action: "approve",
    });
    assert.equal(approved.status, 303);
    assert.equal((await call(token)).status, 200);

    const named = await app.request("/api/tokens/request", {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${ADMIN_EMAIL}:${ADMIN_PASSWORD}`)}` },
    });
    assert.equal(named.status, 403);
  },
);

backendTest(
  "tokenSource() expires tokens and reactivates only with a new date and Active",
  async (t) => {
    const world = await tokenWorld(t);
    const call = caller(createApp(t.svc));
    const day = 86_400_000;
    const { id, value } = await world.token({ expiresAt: new Date(t.svc.now().getTime() + day) });
    assert.equal((await call(value)).status, 200);
    t.advance(2 * day);
    assert.equal((await call(value)).status, 401);
    const row = await t.svc.db.selectFrom("auth_tokens").select("status").where("id", "=", id)
      .executeTakeFirstOrThrow();
    assert.equal(row.status, "expired");
    await assert.rejects(
      updateToken(t.svc, t.admin, id, { status: "active" }),
      /set a new expiry date/,
    );
    const later = new Date(t.svc.now().getTime() + 10 * day);
    await updateToken(t.svc, t.admin, id, { expiresAt: later });
    assert.equal((await call(value)).status, 401);
    await updateToken(t.svc, t.admin, id, { status: "active" });
    assert.equal((await call(value)).status, 200);
  },
);

backendTest(
  "tokenSource() refuses tokens on pages and checkPasswordLogin() refuses app users",
  async (t) => {
    const world = await tokenWorld(t);
    const app = createApp(t.svc);
    const { value } = await world.token();
    const page = await app.request("/folders", { headers: { authorization: `Token ${value}` } });
    assert.equal(page.status, 403);
    const param = await app.request(`/folders?token=${value}`);
    assert.equal(param.status, 403);
    const browser = new TestBrowser(app);
    const login = await browser.signIn(APP_USER, APP_PASSWORD);
    assert.equal(login.status, 403);
    assert.ok((await login.text()).includes(APP_USER_REFUSED.split(":")[0]));
  },
);

backendTest("tokenSource() refuses a token in the URL while the policy is off", async (t) => {
  const world = await tokenWorld(t);
  const app = createApp(t.svc);
  const { id, value } = await world.token();
  const response = await app.request(`/api/folders?token=${value}`);
  assert.equal(response.status, 401);
  assert.match((await response.json()).error.message, /turned off by the security policy/);
  await t.svc.audit.flush();
  const refused = await t.svc.db.selectFrom("audit_log").selectAll()
    .where("event", "=", "token.use").where("outcome", "=", "denied").execute();
  assert.equal(refused.length, 1);
  assert.equal(refused[0].credential_id, id);
  assert.ok(!JSON.stringify(refused).includes(value.split(".")[1]));
});

backendTest("tokenSource() refuses every request after a revocation completes", async (t) => {
  const world = await tokenWorld(t);
  const call = caller(createApp(t.svc));
  const revocations: [string, (id: string) => Promise<unknown>][] = [
    ["token disabled", (id) => updateToken(t.svc, t.admin, id, { status: "disabled" })],
    ["app disabled", () =>
      updateExternalApp(t.svc, t.admin, world.app.id, {
        entryPoints: ["rest", "action"],
        status: "disabled",
      })],
  ];
  for (const [name, revoke] of revocations) {
    await updateExternalApp(t.svc, t.admin, world.app.id, { entryPoints: ["rest", "action"] });
    const { id, value } = await world.token();
    assert.equal((await call(value)).status, 200, `${name}: cached before`);
    // Requests in flight while the change is made: each is let in or refused, never an error.
    const during = Array.from({ length: 20 }, () => call(value).then((r) => r.status));
    const revoked = revoke(id);
    const racing = Array.from({ length: 20 }, () => call(value).then((r) => r.status));
    await revoked;
    for (const status of await Promise.all([...during, ...racing])) {
      assert.ok([200, 401, 403].includes(status), `${name}: ${status}`);
    }
    // A lookup that was under way when the change was made must not bring the old answer back.
    const after = await Promise.all(Array.from({ length: 20 }, () => call(value)));
    assert.deepEqual(new Set(after.map((r) => r.status)).size, 1, name);
    assert.ok([401, 403].includes(after[0].status), `${name}: ${after[0].status}`);
  }
});

backendTest("a token change on another instance is seen within TOKEN_CACHE_MS", async (t) => {
  const world = await tokenWorld(t);
  const call = caller(createApp(t.svc));
  const { id, value } = await world.token();
  assert.equal((await call(value)).status, 200, "now cached on this instance");
  const other = createServices(t.config, t.svc.database, { now: () => t.svc.now() });
  await updateToken(other, t.admin, id, { status: "disabled" });
  await other.audit.flush();
  t.advance(TOKEN_CACHE_MS);
  assert.equal((await call(value)).status, 401);
});

backendTest("tokenPages() add apps and tokens, showing the value once", async (t) => {
  const world = await tokenWorld(t);
  const browser = new TestBrowser(createApp(t.svc));
  await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  const csrf = await browser.sessionCsrf();
  const builtIn = await browser.postForm("/admin/external-apps/remote-sync", {
    _csrf: csrf,
    description: "changed",
  });
  assert.equal(builtIn.status, 403);
  assert.match(await builtIn.text(), /built-in app and is view-only/);
  const added = await browser.postForm("/admin/external-apps", {
    _csrf: csrf,
    id: "pipeline",
    entry: "action",
    default_expiry_days: "7",
  });
  assert.equal(added.status, 303);
  const form = await (await browser.get(`/admin/auth-tokens/new?app=${world.app.id}`)).text();
  assert.match(form, new RegExp(APP_USER));
  const created = await browser.postForm("/admin/auth-tokens/new", {
    _csrf: csrf,
    app: world.app.id,
    app_user: String(world.appUser.id),
    status: "active",
    process_as: "never",
    permitted: "full",
  });
  assert.equal(created.status, 200);
  const value = /lgt_[0-9a-f]{16}\.[A-Za-z0-9_-]+/.exec(await created.text())?.[0];
  assert.ok(value);
  assert.equal((await caller(createApp(t.svc))(value)).status, 200);
  const id = /lgt_([0-9a-f]{16})\./.exec(value)![1];
  const edit = await (await browser.get(`/admin/auth-tokens/${id}`)).text();
  assert.match(edit, /Token [0-9a-f]{16} \(Active\)/);
  assert.ok(!edit.includes(value.split(".")[1]));
  const saved = await browser.postForm(`/admin/auth-tokens/${id}`, {
    _csrf: csrf,
    app_user: String(world.appUser.id),
    description: "Plate reader",
    status: "active",
    expires_at: /name="expires_at" type="date" value="([^"]+)"/.exec(edit)![1],
    process_as: "never",
    permitted: "full",
  });
  assert.equal(saved.status, 303);
  assert.equal((await caller(createApp(t.svc))(value)).status, 200);
  for (const path of ["/admin/site", "/admin/external-apps", "/admin/auth-tokens"]) {
    const html = await (await browser.get(path)).text();
    assert.match(html, /External apps|lab-app/, path);
  }
  const apps = await (await browser.get("/admin/external-apps")).text();
  assert.match(apps, /pipeline/);
  assert.match(await (await browser.get("/admin/external-apps/remote-sync")).text(), /view-only/);
  const users = await (await browser.get("/admin/users")).text();
  assert.match(users, /<option value="lab-app"/);
  const mismatched = await browser.postForm("/admin/auth-tokens/new", {
    _csrf: csrf,
    app: "pipeline",
    app_user: String(world.appUser.id),
  });
  assert.equal(mismatched.status, 400);
  assert.match(await mismatched.text(), /Choose an app user of pipeline/);
});

backendTest("tokenSource() rate-limits unknown tokens per client address", async (t) => {
  const world = await tokenWorld(t);
  const call = caller(createApp(t.svc));
  const { value } = await world.token();
  const limit = t.config.loginFailureLimit * 4;
  for (let i = 0; i < limit; i++) {
    assert.equal((await call(`${value.slice(0, -2)}zz`)).status, 401);
  }
  assert.equal((await call(`${value}x`)).status, 429);
  assert.equal((await call(value)).status, 429);
});

backendTest("tokenRoutes() runs selectRows, updateRows and checkPermissions", async (t) => {
  const world = await tokenWorld(t);
  const app = createApp(t.svc);
  const { value } = await world.token({ processAs: "any" });
  const act = async (name: string, body: unknown, processAs?: string) => {
    const headers: Record<string, string> = { authorization: `Token ${value}` };
    if (processAs) headers["x-process-as"] = processAs;
    const r = await app.request(`/actions/${name}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  const filtered = await act("selectRows", {
    folder: FOLDER,
    list: LIST,
    filters: [{ column: "Name", op: "eq", value: "first" }],
  });
  assert.equal(filtered.status, 200);
  assert.deepEqual(filtered.body, { rows: [{ Id: 1, Name: "first" }], total: 1 });
  // The app user is an Author: no updates; Ana (Editor) may.
  const update = { folder: FOLDER, list: LIST, rows: [{ Id: 1, Name: "renamed" }] };
  assert.equal((await act("updateRows", update)).status, 403);
  const updated = await act("updateRows", update, ANA);
  assert.equal(updated.status, 200);
  assert.deepEqual(updated.body.rows, [{ Id: 1, Name: "renamed" }]);
  const own = await act("checkPermissions", { folder: FOLDER });
  assert.deepEqual(own.body, {
    folder: FOLDER,
    user: APP_USER,
    permissions: 3,
    names: ["READ", "INSERT"],
  });
  assert.equal((await act("checkPermissions", { folder: FOLDER, user: RITA })).status, 403);
  const asAdmin = await act("checkPermissions", { folder: FOLDER, user: RITA }, ADMIN_EMAIL);
  assert.equal(asAdmin.body.permissions, 1);
  const unknown = await act("dropEverything", {});
  assert.equal(unknown.status, 404);
  const session = await app.request("/actions/selectRows", { method: "POST", body: "{}" });
  assert.equal(session.status, 401);
});

backendTest(
  "deleteExternalApp() deletes an app and its tokens, never a built-in app or one with users",
  async (t) => {
    const world = await tokenWorld(t);
    const app = createApp(t.svc);
    const browser = new TestBrowser(app);
    await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const csrf = await browser.sessionCsrf();
    const api = (method: string, path: string) =>
      browser.json(method, path, undefined, { "x-csrf-token": csrf });

    const builtIn = await api("DELETE", "/api/external-apps/remote-sync");
    assert.equal(builtIn.status, 403);
    assert.match((await builtIn.json()).error.message, /built-in app and cannot be deleted/);

    const { value } = await world.token();
    assert.equal((await caller(app)(value)).status, 200, "token cached before the delete");
    const withUsers = await api("DELETE", `/api/external-apps/${world.app.id}`);
    assert.equal(withUsers.status, 409);
    assert.match((await withUsers.json()).error.message, new RegExp(`1 user account.*${APP_USER}`));
    assert.equal((await caller(app)(value)).status, 200, "refused delete changes nothing");

    // Once its user belongs elsewhere, the app goes, and its tokens with it, at once.
    await createExternalApp(t.svc, t.admin, { id: "elsewhere", entryPoints: ["rest"] });
    await updateUser(t.svc, t.admin, world.appUser.id, { externalAppId: "elsewhere" });
    const moved = await app.request("/api/folders", {
      headers: { authorization: `Token ${value}` },
    });
    assert.equal(moved.status, 403, "a token does not follow its user to another app");
    assert.match((await moved.json()).error.message, /no longer belongs to external app lab-app/);
    const page = await browser.postForm(`/admin/external-apps/${world.app.id}`, {
      _csrf: csrf,
      _action: "delete",
      confirm: "yes",
    });
    assert.equal(page.status, 303);
    const notice = new URL(page.headers.get("location")!, "http://x").searchParams.get("notice");
    assert.equal(notice, `External app ${world.app.id} deleted with its 1 token(s)`);
    assert.equal((await caller(app)(value)).status, 401);
    const left = await t.svc.db.selectFrom("auth_tokens").select("id")
      .where("app_id", "=", world.app.id).execute();
    assert.deepEqual(left, []);
    const apps = await (await api("GET", "/api/external-apps")).json();
    assert.deepEqual(apps.map((a: { id: string }) => a.id).sort(), [
      "elsewhere",
      "instrument-collector",
      "remote-sync",
    ]);
    assert.equal((await api("DELETE", "/api/external-apps/elsewhere")).status, 409);
    const missing = await api("DELETE", `/api/external-apps/${world.app.id}`);
    assert.equal(missing.status, 404);
    await t.svc.audit.flush();
    const audit = await t.svc.db.selectFrom("audit_log").selectAll()
      .where("event", "=", "app.delete").execute();
    assert.deepEqual(audit.map((e) => e.detail), [`${world.app.id} (1 token(s) deleted)`]);
  },
);
