import assert from "node:assert/strict";
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { createGroup, setMembership } from "../../src/data/groups.ts";
import { createUser } from "../../src/data/users.ts";
import { backendTest } from "../_support/backends.ts";
import { TestBrowser, textOf } from "../_support/http.ts";
import { browserOf } from "../_support/keys.ts";
import { createApp } from "../../routes/mod.ts";

backendTest("GET /admin/users/:id shows a user's effective permissions and why", async (t) => {
  const ana = await createUser(t.svc, t.admin, {
    email: "ana@example.org",
    password: "ana-pass-123",
  });
  const lab = await createGroup(t.svc, t.admin, { name: "lab" });
  await setMembership(t.svc, t.admin, { groupId: lab.id, userId: ana.id, member: true });
  await createContainer(t.svc, t.admin, {
    parentPath: "/home",
    name: "assays",
    inheritPolicy: false,
  });
  await createContainer(t.svc, t.admin, { parentPath: "/home/assays", name: "plate1" });
  await setPolicy(t.svc, t.admin, "/home/assays", {
    inherit: false,
    assignments: [{ principalId: ana.id, role: "reader" }, { principalId: lab.id, role: "author" }],
  });
  const { browser } = await browserOf(t);
  const html = await (await browser.get(`/admin/users/${ana.id}`)).text();
  const table = textOf(html.slice(html.indexOf('id="effective-permissions"')));
  assert.match(
    table,
    /\/home\/assays READ, INSERT reader for ana@example\.org; author for group lab /,
  );
  assert.match(
    table,
    /\/home\/assays\/plate1 READ, INSERT reader for ana@example\.org \(policy of \/home\/assays\); author for group lab \(policy of \/home\/assays\)/,
  );
  assert.doesNotMatch(table, /\/home READ|\/home \//, "nothing on /home itself");
});

backendTest("POST /admin/users/:id reset-password shows a one-time password once", async (t) => {
  const ana = await createUser(t.svc, t.admin, {
    email: "ana@example.org",
    password: "ana-pass-123",
  });
  const anaBrowser = new TestBrowser(createApp(t.svc));
  assert.equal((await anaBrowser.signIn("ana@example.org", "ana-pass-123")).status, 303);
  const { browser, csrf } = await browserOf(t);
  const reset = await browser.postForm(`/admin/users/${ana.id}`, {
    _csrf: csrf,
    _action: "reset-password",
  });
  assert.equal(reset.status, 200);
  assert.equal(reset.headers.get("cache-control"), "no-store");
  const password = /id="one-time-password"[\s\S]*?<code>([^<]+)<\/code>/.exec(await reset.text())
    ?.[1];
  assert.ok(password && password.length >= 20);
  assert.doesNotMatch(
    await (await browser.get(`/admin/users/${ana.id}`)).text(),
    new RegExp(password),
  );
  assert.equal((await anaBrowser.get("/folders")).status, 303, "her session ended");
  const signIn = await new TestBrowser(createApp(t.svc)).signIn("ana@example.org", password);
  assert.equal(signIn.status, 303);
  assert.match(signIn.headers.get("location") ?? "", /^\/account\?next=/, "must change it first");
});

backendTest("GET /admin/users searches and pages the users", async (t) => {
  for (let i = 0; i < 60; i++) {
    await createUser(t.svc, t.admin, {
      email: `user${String(i).padStart(2, "0")}@example.org`,
      department: i % 2 ? "Chemistry" : "Biology",
    });
  }
  const { browser } = await browserOf(t);
  const first = textOf(await (await browser.get("/admin/users")).text());
  assert.match(first, /Page 1 of 2 · 61 named users/);
  assert.match(first, /admin@example\.org/);
  const second = textOf(await (await browser.get("/admin/users?page=2")).text());
  assert.match(second, /user59@example\.org/);
  assert.doesNotMatch(second, /user00@example\.org/);
  const chemistry = textOf(await (await browser.get("/admin/users?q=chem")).text());
  assert.match(chemistry, /Page 1 of 1 · 30 named users matching "chem"/);
  assert.doesNotMatch(chemistry, /user00@/);
  const sorted = await (await browser.get("/admin/users?sort=Department&desc=1&q=user0")).text();
  assert.ok(sorted.indexOf("user01@") < sorted.indexOf("user00@"), "Chemistry before Biology");
  const chosen = await browser.get("/admin/users?q=user&show.choose=1&show=Email&show=Department");
  assert.equal(chosen.status, 303);
  const narrow = await (await browser.get(chosen.headers.get("location")!)).text();
  const header = narrow.slice(narrow.indexOf("<thead>"), narrow.indexOf("</thead>"));
  assert.match(header, />Department</);
  assert.doesNotMatch(header, />Last sign-in</);
  const none = textOf(await (await browser.get("/admin/users?q=%25")).text());
  assert.match(none, /0 named users matching "%"/, "LIKE wildcards are literal");
});

backendTest(
  "GET /admin/audit pages by entry, filters by date and outcome, exports CSV and TSV",
  async (t) => {
    for (let i = 0; i < 320; i++) {
      t.svc.audit.record({
        door: "api",
        event: "rows.read",
        outcome: i % 10 ? "ok" : "denied",
        detail: `#${i}`,
      });
    }
    t.svc.audit.record({
      door: "web",
      event: "note",
      outcome: "ok",
      detail: "tab\there, =formula",
    });
    const { browser } = await browserOf(t);
    const first = await (await browser.get("/admin/audit?event=rows.")).text();
    assert.match(textOf(first), /300 entries/);
    const older = /href="(\/admin\/audit\?[^"]*before=\d+)"/.exec(first)?.[1].replaceAll(
      "&amp;",
      "&",
    );
    assert.ok(older, "an Older link");
    const second = textOf(await (await browser.get(older)).text());
    assert.match(second, /20 entries older than #\d+/);
    assert.match(second, /#0 /);
    const oldest = await (await browser.get("/admin/audit?event=rows.&order=oldest")).text();
    assert.match(textOf(oldest), /300 entries/);
    assert.ok(textOf(oldest).indexOf("#0 ") < textOf(oldest).indexOf("#1 "), "oldest first");
    const newer = /href="(\/admin\/audit\?[^"]*after=\d+)"/.exec(oldest)?.[1].replaceAll(
      "&amp;",
      "&",
    );
    assert.ok(newer, "a Newer link");
    const last = textOf(await (await browser.get(newer)).text());
    assert.match(last, /20 entries newer than #\d+/);
    assert.match(last, /#319 /);
    assert.equal((await browser.get("/admin/audit?order=sideways")).status, 400);
    const denied = textOf(
      await (await browser.get("/admin/audit?event=rows.&outcome=denied")).text(),
    );
    assert.match(denied, /32 entries/);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const future = textOf(await (await browser.get(`/admin/audit?from=${tomorrow}`)).text());
    assert.match(future, /0 entries/);
    const bad = await browser.get("/admin/audit?from=yesterday");
    assert.equal(bad.status, 400);
    assert.match(textOf(await bad.text()), /From must be a date as YYYY-MM-DD/);

    const picked = await browser.get(
      "/admin/audit?event=rows.&show.choose=1&show=Event&show=Detail",
    );
    assert.equal(picked.status, 303);
    const pickedHtml = await (await browser.get(picked.headers.get("location")!)).text();
    const pickedHeader = pickedHtml.slice(
      pickedHtml.indexOf("<thead>"),
      pickedHtml.indexOf("</thead>"),
    );
    assert.match(pickedHeader, /<th>Event<\/th><th>Detail<\/th>/);
    const csv = await browser.get("/admin/audit.csv?event=rows.&outcome=denied");
    assert.equal(csv.headers.get("content-type"), "text/csv; charset=utf-8");
    const lines = (await csv.text()).trim().split("\r\n");
    assert.match(lines[0], /^id,at,door,event,outcome,user_id,user_email,/);
    assert.equal(lines.length, 33, "header and every denied entry, across pages");
    const tsv = await (await browser.get("/admin/audit.tsv?event=note")).text();
    assert.match(tsv, /\tweb\tnote\tok\t/);
    assert.match(tsv, /\t"tab\there, =formula"\t/, "a tab in a cell is quoted");
  },
);
