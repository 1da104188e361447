/** What an attacker tries as a new user would: redirects, stale sessions, headers, guessing. */
import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { createList } from "../../src/data/lists.ts";
import { insertRows, selectRows } from "../../src/data/rows.ts";
import { createUser } from "../../src/data/users.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, backendTest } from "../_support/backends.ts";
import { TestBrowser, textOf } from "../_support/http.ts";
import { basic, browserOf, enableKeys } from "../_support/keys.ts";

backendTest("POST /login follows only same-origin paths and never fails on `next`", async (t) => {
  const cases: [string, string][] = [
    ["/\t/evil.example", "/folders"],
    ["/%09/evil.example", "/%09/evil.example"],
    ["//evil.example/x", "/folders"],
    ["/\\evil.example", "/folders"],
    ["https://evil.example/", "/folders"],
    ["javascript:alert(1)", "/folders"],
    ["/folders/home?x=1#top", "/folders/home?x=1#top"],
    ["/admin\r\nset-cookie: x=y", "/adminset-cookie:%20x=y"],
  ];
  for (const [next, expected] of cases) {
    const browser = new TestBrowser(createApp(t.svc));
    const response = await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD, next);
    assert.equal(response.status, 303, JSON.stringify(next));
    assert.equal(response.headers.get("location"), expected, JSON.stringify(next));
    const signedIn = await browser.get(`/login?next=${encodeURIComponent(next)}`);
    assert.equal(signedIn.headers.get("location"), expected, JSON.stringify(next));
  }
});

backendTest(
  "changing a password ends the user's other sessions and their session keys",
  async (t) => {
    await enableKeys(t);
    await createUser(t.svc, t.admin, { email: "ana@example.org", password: "ana-first-pass" });
    const here = await browserOf(t, "ana@example.org", "ana-first-pass");
    const elsewhere = await browserOf(t, "ana@example.org", "ana-first-pass");
    const { key } = await elsewhere.makeKey({ kind: "session_key" });
    assert.equal((await elsewhere.browser.request("/api/me", { headers: basic(key) })).status, 200);

    const changed = await here.browser.postForm("/account/password", {
      _csrf: here.csrf,
      current: "ana-first-pass",
      password: "ana-second-pass",
      confirm: "ana-second-pass",
      next: "/folders",
    });
    assert.equal(changed.status, 303);
    assert.equal((await here.browser.get("/folders")).status, 200, "the current session stays");
    assert.equal((await elsewhere.browser.get("/folders")).status, 303, "the other one ended");
    const keyUse = await new TestBrowser(createApp(t.svc)).request("/api/me", {
      headers: basic(key),
    });
    assert.equal(keyUse.status, 401, "the session key made in the ended session is refused");

    const admin = await browserOf(t);
    const user = await t.svc.db.selectFrom("users").select("id")
      .where("email", "=", "ana@example.org").executeTakeFirstOrThrow();
    const reset = await admin.browser.json("PATCH", `/api/users/${user.id}`, {
      password: "reset-by-admin-1",
    }, { "x-csrf-token": admin.csrf });
    assert.equal(reset.status, 200, await reset.clone().text());
    assert.equal((await here.browser.get("/folders")).status, 303, "an admin reset ends them all");
    assert.equal((await admin.browser.get("/folders")).status, 200, "the admin's own stays");
    const reasons = await t.svc.db.selectFrom("sessions").select("end_reason")
      .where("user_id", "=", user.id).orderBy("created_at").execute();
    assert.deepEqual(reasons.map((r) => r.end_reason), ["password changed", "password changed"]);
  },
);

backendTest("every answer carries the security headers", async (t) => {
  const app = createApp(t.svc);
  const login = await app.request("/login", {}, { clientAddr: "127.0.0.1" });
  const csp = login.headers.get("content-security-policy") ?? "";
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/, "no inline script allowed");
  assert.match(csp, /default-src 'none'/);
  assert.equal(login.headers.get("x-content-type-options"), "nosniff");
  assert.equal(login.headers.get("referrer-policy"), "same-origin");
  assert.equal(login.headers.get("x-frame-options"), "DENY");
  assert.equal(login.headers.get("strict-transport-security"), null, "no HSTS over plain HTTP");
  assert.doesNotMatch(await login.text(), /\sstyle="/, "no inline styles on the login page");

  await enableKeys(t);
  const { browser } = await browserOf(t);
  for (const path of ["/folders", "/api/me", "/folders/home"]) {
    const response = await browser.get(path);
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get("cache-control"), "no-store", path);
    const html = await response.text();
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, `${path}: no inline script`);
    assert.doesNotMatch(html, /\sstyle="/, `${path}: no inline style`);
  }
  const keyPage = await browser.postForm("/account/keys", {
    _csrf: await browser.sessionCsrf(),
    kind: "api_key",
    expiry: "1w",
    description: "headers test",
  });
  const keyHtml = await keyPage.text();
  assert.match(keyHtml, /id="copy-key"/);
  assert.doesNotMatch(keyHtml, /<script>[^<]/, "the key page's copy button is a file");
  assert.match(keyHtml, /<script src="\/static\/copy_key\.js"/);
  const style = await browser.get("/static/style.css");
  assert.match(style.headers.get("cache-control") ?? "", /public/);

  const secure = await app.request("https://labgate.example/login", {}, {
    clientAddr: "127.0.0.1",
  });
  assert.match(secure.headers.get("strict-transport-security") ?? "", /max-age=\d{7,}/);
  const cookies = secure.headers.getSetCookie();
  assert.ok(cookies.length > 0 && cookies.every((c) => /;\s*Secure/i.test(c)), cookies.join("\n"));
});

backendTest(
  "a trusted proxy's X-Forwarded-For and -Proto are honoured, others' ignored",
  async (t) => {
    const app = createApp(t.svc);
    const via = (peer: string, headers: Record<string, string>) =>
      app.request("http://labgate.example/login", { headers }, { clientAddr: peer });
    const forwarded = { "x-forwarded-for": "198.51.100.7, 10.0.0.2", "x-forwarded-proto": "https" };
    const proxied = await via("10.0.0.2", forwarded);
    assert.match(proxied.headers.get("strict-transport-security") ?? "", /max-age/);
    const direct = await via("192.0.2.1", forwarded);
    assert.equal(
      direct.headers.get("strict-transport-security"),
      null,
      "an untrusted peer's claim",
    );

    const browser = new TestBrowser(app, "10.0.0.2");
    for (let i = 0; i < t.config.loginFailureLimit * 4 + 2; i++) {
      const form = await (await browser.request("/login", {
        headers: { "x-forwarded-for": "198.51.100.7" },
      })).text();
      await browser.request("/login", {
        method: "POST",
        headers: { "x-forwarded-for": "198.51.100.7" },
        body: new URLSearchParams({
          _csrf: TestBrowser.csrf(form),
          email: `nobody${i}@example.org`,
          password: "wrong-password",
        }),
      });
    }
    await t.svc.audit.flush();
    const addrs = await t.svc.db.selectFrom("audit_log").select("client_addr").distinct()
      .where("event", "=", "login").execute();
    assert.deepEqual(addrs.map((a) => a.client_addr), ["198.51.100.7"]);
    const other = await browser.request("/login", {
      headers: { "x-forwarded-for": "198.51.100.8" },
    });
    const ok = await browser.request("/login", {
      method: "POST",
      headers: { "x-forwarded-for": "198.51.100.8" },
      body: new URLSearchParams({
        _csrf: TestBrowser.csrf(await other.text()),
        email: ADMIN_EMAIL,
        password: ADMIN_PASSWORD,
      }),
    });
    assert.equal(ok.status, 303, "another client behind the same proxy is not locked out");
  },
  { env: { LABGATE_TRUSTED_PROXIES: "10.0.0.2" } },
);

backendTest(
  "failed sign-ins back off per address and account, not lock the owner out",
  async (t) => {
    const attacker = new TestBrowser(createApp(t.svc), "203.0.113.66");
    const statuses: number[] = [];
    for (let i = 0; i < t.config.loginFailureLimit * 4 + 3; i++) {
      statuses.push((await attacker.signIn(`guess${i}@example.org`, "wrong-password")).status);
    }
    assert.deepEqual(
      statuses.slice(0, t.config.loginFailureLimit * 4),
      statuses.map(() => 401).slice(0, t.config.loginFailureLimit * 4),
    );
    assert.ok(statuses.includes(429), "the guessing address is slowed down");
    const limited = await attacker.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert.equal(limited.status, 429);
    assert.match(
      textOf(await limited.text()),
      /Too many failed sign-in attempts: try again in \d+ seconds?/,
    );

    const neighbour = new TestBrowser(createApp(t.svc), "203.0.113.67");
    assert.equal((await neighbour.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).status, 303);

    const guesser = new TestBrowser(createApp(t.svc), "203.0.113.80");
    for (let i = 0; i < t.config.loginFailureLimit; i++) {
      assert.equal((await guesser.signIn(ADMIN_EMAIL, `wrong-${i}`)).status, 401);
    }
    assert.equal((await guesser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).status, 429);
    const owner = new TestBrowser(createApp(t.svc), "192.0.2.10");
    assert.equal(
      (await owner.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).status,
      303,
      "the right password from an address that has not failed gets through",
    );
    t.advance(t.config.loginWindowMinutes * 60_000 + 1000);
    assert.equal((await guesser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).status, 303);
  },
);

backendTest("CSV export neutralizes formulas unless asked to keep them", async (t) => {
  const def = await createList(t.svc, t.admin, "/home", {
    name: "formulas",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Note", type: "Text" }, { name: "Dose", type: "Double" }],
  });
  const notes = ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "ok"];
  await insertRows(t.svc, t.admin, def, notes.map((Note, i) => ({ Note, Dose: -i })));
  const { browser } = await browserOf(t);
  const page = await (await browser.get("/folders/home/-/lists/formulas/export.csv")).text();
  const api = await (await browser.get(`/api/lists/${def.list.id}/export`)).text();
  for (const csv of [page, api]) {
    const lines = csv.trim().split("\r\n").slice(1);
    assert.deepEqual(lines, [
      `1,"'=HYPERLINK(""http://evil.example"")",0`,
      "2,'+1+1,-1",
      "3,'-2+3,-2",
      "4,'@SUM(A1),-3",
      "5,'\tx,-4",
      "6,ok,-5",
    ]);
  }
  const kept = await (await browser.get(`/api/lists/${def.list.id}/export?formulas=keep`)).text();
  assert.match(kept, /\r\n2,\+1\+1,-1\r\n/);
  const keptPage = await (await browser.get(
    "/folders/home/-/lists/formulas/export.csv?formulas=keep",
  )).text();
  assert.match(keptPage, /\r\n4,@SUM\(A1\),-3\r\n/);
});

backendTest(
  "an import with bytes that are not UTF-8 is refused with its row and column",
  async (t) => {
    const def = await createList(t.svc, t.admin, "/home", {
      name: "names",
      key: "Id",
      autoKey: true,
      columns: [{ name: "Name", type: "Text" }, { name: "City", type: "Text" }],
    });
    const latin1 = new Uint8Array([
      ...new TextEncoder().encode("Name,City\nAnna,Oslo\nJos"),
      0xe9, // é in Latin-1
      ...new TextEncoder().encode(",Li"),
      0xe8,
      ...new TextEncoder().encode("ge\n"),
    ]);
    const { browser, csrf } = await browserOf(t);
    const api = await browser.request(`/api/lists/${def.list.id}/import`, {
      method: "POST",
      headers: { "content-type": "text/csv", "x-csrf-token": csrf },
      body: latin1,
    });
    assert.equal(api.status, 400);
    const { error } = await api.json();
    assert.match(error.message, /Row 2, column Name: the text is not valid UTF-8/);
    assert.deepEqual(error.details.errors.map((e: { column: string }) => e.column), [
      "Name",
      "City",
    ]);

    const form = new FormData();
    form.set("_csrf", csrf);
    form.set("_action", "import");
    form.set("file", new File([latin1], "names.csv", { type: "text/csv" }));
    const page = await browser.request("/folders/home/-/lists/names", {
      method: "POST",
      body: form,
    });
    assert.equal(page.status, 400);
    assert.match(textOf(await page.text()), /not valid UTF-8/);
    const header = new Uint8Array([0x4e, 0x61, 0x6d, 0xff, 0x0a, 0x41, 0x0a]);
    const bad = await browser.request(`/api/lists/${def.list.id}/import`, {
      method: "POST",
      headers: { "content-type": "text/csv", "x-csrf-token": csrf },
      body: header,
    });
    assert.match((await bad.json()).error.message, /the header row is not valid UTF-8/);
    assert.equal((await selectRows(t.svc, t.admin, def, {})).rows.length, 0, "nothing imported");
  },
);

backendTest("common passwords and the account's email are refused as new passwords", async (t) => {
  const { browser, csrf } = await browserOf(t);
  const create = (password: string) =>
    browser.json("POST", "/api/users", { email: "lab@example.org", password }, {
      "x-csrf-token": csrf,
    });
  for (
    const password of ["password", "Password1", "  qwertyuiop ", "lab@example.org", "LAB12345"]
  ) {
    const refused = await (password === "LAB12345"
      ? browser.json("POST", "/api/users", { email: "lab12345@example.org", password }, {
        "x-csrf-token": csrf,
      })
      : create(password));
    assert.equal(refused.status, 400, password);
    assert.match((await refused.json()).error.message, /common passwords|email/, password);
  }
  assert.equal((await create("kestrel-orbit-58")).status, 201);
  const own = await browser.postForm("/account/password", {
    _csrf: csrf,
    current: ADMIN_PASSWORD,
    password: "iloveyou",
    confirm: "iloveyou",
  });
  assert.equal(own.status, 400);
  assert.match(textOf(await own.text()), /most common passwords/);
  assert.equal(
    (await new TestBrowser(createApp(t.svc)).signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).status,
    303,
  );
});

backendTest("a JSON or text body that is not UTF-8 is refused before any route", async (t) => {
  const { browser, csrf } = await browserOf(t);
  const body = new Uint8Array([
    ...new TextEncoder().encode('{"parent":"/home","name":"Lab'),
    0xe9,
    0x22,
    0x7d,
  ]);
  const response = await browser.request("/api/folders", {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body,
  });
  assert.equal(response.status, 400);
  assert.match((await response.json()).error.message, /not valid UTF-8/);
  const ok = await browser.json("POST", "/api/users", {
    email: "jose@example.org",
    displayName: "José Müller",
  }, { "x-csrf-token": csrf });
  assert.equal(ok.status, 201, await ok.clone().text());
  assert.equal((await ok.json()).displayName, "José Müller");
});
