import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { createUser } from "../../src/data/users.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, backendTest } from "../_support/backends.ts";
import { TestBrowser, textOf } from "../_support/http.ts";

backendTest(
  "POST /login signs in, sets a hardened cookie, and /logout ends the session",
  async (t) => {
    const browser = new TestBrowser(createApp(t.svc));
    assert.equal((await browser.get("/folders")).headers.get("location"), "/login?next=%2Ffolders");
    const response = await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "/folders");
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith("labgate_session="))!;
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.match(cookie, /Path=\//);
    const value = cookie.split(";")[0].split("=")[1];
    const [id, secret] = value.split(".");
    const stored = await t.svc.db.selectFrom("sessions").selectAll().where("id", "=", id)
      .executeTakeFirstOrThrow();
    assert.notEqual(stored.secret_hash, secret, "the secret is stored only as a hash");
    assert.equal(stored.secret_hash.length, 64);
    assert.match(textOf(await (await browser.get("/folders")).text()), /\/home/);

    const csrf = await browser.sessionCsrf();
    const stolen = new TestBrowser(createApp(t.svc));
    stolen.cookies.set("labgate_session", value);
    const out = await browser.postForm("/logout", { _csrf: csrf });
    assert.equal(out.status, 303);
    assert.equal((await stolen.get("/folders")).status, 303, "the old cookie no longer works");
    const ended = await t.svc.db.selectFrom("sessions").selectAll().where("id", "=", id)
      .executeTakeFirstOrThrow();
    assert.equal(ended.end_reason, "logout");
    await t.svc.audit.flush();
    const events = await t.svc.db.selectFrom("audit_log").select(["event", "outcome"]).orderBy("id")
      .execute();
    assert.deepEqual(events.filter((e) => e.event === "login" || e.event === "logout"), [
      { event: "login", outcome: "ok" },
      { event: "logout", outcome: "ok" },
    ]);
  },
);

backendTest(
  "POST /login gives one message for a wrong password and an unknown email",
  async (t) => {
    const browser = new TestBrowser(createApp(t.svc));
    const wrong = await browser.signIn(ADMIN_EMAIL, "not the password");
    const unknown = await browser.signIn("nobody@example.org", "whatever-1");
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.match(textOf(await wrong.text()), /Email or password is incorrect/);
    assert.match(textOf(await unknown.text()), /Email or password is incorrect/);
    assert.equal(browser.cookies.has("labgate_session"), false);
    await t.svc.audit.flush();
    const failures = await t.svc.db.selectFrom("audit_log").selectAll().where("event", "=", "login")
      .where("outcome", "=", "failed").execute();
    assert.equal(failures.length, 2);
    assert.ok(
      failures.every((f) => !JSON.stringify(f).includes("not the password")),
      "no password in the log",
    );
  },
);

backendTest("POST /login backs off an address that keeps failing on an account", async (t) => {
  const browser = new TestBrowser(createApp(t.svc));
  for (let i = 0; i < t.config.loginFailureLimit; i++) {
    assert.equal((await browser.signIn(ADMIN_EMAIL, `wrong-${i}`)).status, 401);
  }
  const limited = await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  assert.equal(limited.status, 429);
  assert.match(
    textOf(await limited.text()),
    /Too many failed sign-in attempts: try again in 1 second/,
  );
  t.advance(1000);
  assert.equal((await browser.signIn(ADMIN_EMAIL, "wrong-again")).status, 401);
  const longer = await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  assert.match(textOf(await longer.text()), /try again in 2 seconds/, "each failure doubles it");
  t.advance(2000);
  assert.equal((await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).status, 303);
  assert.equal(
    (await new TestBrowser(createApp(t.svc)).signIn(ADMIN_EMAIL, "wrong-after")).status,
    401,
    "a sign-in forgets the account's failures",
  );
});

backendTest("POST /login refuses external app users with a clear message", async (t) => {
  await createUser(t.svc, t.admin, {
    email: "collector@example.org",
    userType: "app",
    externalAppId: "instrument-collector",
    password: "collector-pass-1",
  });
  const browser = new TestBrowser(createApp(t.svc));
  const response = await browser.signIn("collector@example.org", "collector-pass-1");
  assert.equal(response.status, 403);
  assert.match(
    textOf(await response.text()),
    /External app accounts cannot sign in through the browser/,
  );
  assert.equal(browser.cookies.has("labgate_session"), false);
});

backendTest("forms without the session's CSRF token are refused and change nothing", async (t) => {
  const browser = new TestBrowser(createApp(t.svc));
  await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  const missing = await browser.postForm("/folders/home", { _action: "create-folder", name: "x" });
  assert.equal(missing.status, 403);
  assert.match(textOf(await missing.text()), /CSRF token/);
  const forged = await browser.postForm("/folders/home", {
    _csrf: "forged",
    _action: "create-folder",
    name: "x",
  });
  assert.equal(forged.status, 403);
  const crossSite = await browser.request("/folders/home", {
    method: "POST",
    headers: { origin: "https://evil.example" },
    body: new URLSearchParams({
      _csrf: await browser.sessionCsrf(),
      _action: "create-folder",
      name: "x",
    }),
  });
  assert.equal(crossSite.status, 403);
  const api = await browser.json("POST", "/api/folders", { parent: "/home", name: "x" });
  assert.equal(api.status, 403);
  assert.equal((await api.json()).error.status, 403);
  assert.equal(
    await t.svc.db.selectFrom("containers").select("id").where("path", "=", "/home/x")
      .executeTakeFirst(),
    undefined,
  );
  const ok = await browser.postForm("/folders/home", {
    _csrf: await browser.sessionCsrf(),
    _action: "create-folder",
    name: "x",
  });
  assert.equal(ok.status, 303);
  const login = await new TestBrowser(createApp(t.svc)).postForm("/login", {
    email: ADMIN_EMAIL,
    password: ADMIN_PASSWORD,
  });
  assert.equal(login.status, 403, "the login form needs its pre-session token too");
});

backendTest("sessions end after the idle timeout and the absolute lifetime", async (t) => {
  const browser = new TestBrowser(createApp(t.svc));
  await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  t.advance((t.config.sessionIdleMinutes - 1) * 60_000);
  assert.equal((await browser.get("/folders")).status, 200);
  t.advance((t.config.sessionIdleMinutes - 1) * 60_000);
  assert.equal((await browser.get("/folders")).status, 200, "activity keeps the session alive");
  t.advance(t.config.sessionIdleMinutes * 60_000 + 1000);
  assert.equal((await browser.get("/folders")).status, 303);
  const reasons = await t.svc.db.selectFrom("sessions").select("end_reason").execute();
  assert.deepEqual(reasons.map((r) => r.end_reason), ["idle timeout"]);

  const second = new TestBrowser(createApp(t.svc));
  await second.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  for (let h = 0; h < t.config.sessionMaxHours * 4; h++) {
    t.advance(15 * 60_000);
    const response = await second.get("/folders");
    if (response.status !== 200) break;
  }
  assert.equal((await second.get("/folders")).status, 303);
  const last = await t.svc.db.selectFrom("sessions").select("end_reason").orderBy(
    "created_at",
    "desc",
  ).executeTakeFirstOrThrow();
  assert.equal(last.end_reason, "expired");
});
