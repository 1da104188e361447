/**
 * PHI levels on the HTTP doors: one list with a column at each level, one
 * user with three API keys at three levels; each key sees exactly its
 * columns through JSON API rows, export, LabKey selectRows and pages, and
 * is refused writes, filters and sorts naming a column above its level.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { createApp } from "../../routes/mod.ts";
import { complianceSettings } from "../../src/auth/compliance.ts";
import { getContainerByPath } from "../../src/data/containers.ts";
import { getList } from "../../src/data/lists.ts";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  backendTest,
  type TestContext,
} from "../_support/backends.ts";
import { TestBrowser, textOf } from "../_support/http.ts";
import { basic, enableKeys } from "../_support/keys.ts";

const LEVELS = ["not_phi", "limited", "full"] as const;
type Level = typeof LEVELS[number];

/** Which columns each level sees (Link is restricted: nobody). */
const SEEN: Record<Level, string[]> = {
  not_phi: ["Id", "Site"],
  limited: ["Id", "Site", "Zip"],
  full: ["Id", "Site", "Zip", "Name"],
};

/** A browser signed in as the admin, declaring `phi` (login names not_phi `none`). */
async function signedIn(t: TestContext, phi: "none" | "limited" | "full") {
  const app = createApp(t.svc);
  const browser = new TestBrowser(app);
  const form = await (await browser.get("/login")).text();
  const login = await browser.postForm("/login", {
    _csrf: TestBrowser.csrf(form),
    email: ADMIN_EMAIL,
    password: ADMIN_PASSWORD,
    next: "/folders",
    terms_accepted: "on",
    irb_number: "IRB-16",
    phi_level: phi,
  });
  assert.equal(login.status, 303);
  const csrf = await browser.sessionCsrf();
  return { app, browser, csrf };
}

async function setUp(t: TestContext) {
  await enableKeys(t);
  await t.svc.settings.set(complianceSettings, {
    required: true,
    termsText: "Use the data for the study only",
    termsVersion: "v1",
  });
  const { app, browser, csrf } = await signedIn(t, "full");
  const home = (await getContainerByPath(t.svc, "/home"))!;
  const created = await browser.json("POST", `/api/folders/${home.id}/lists`, {
    name: "patients",
    key: "Id",
    autoKey: true,
    columns: [
      { name: "Site", type: "Text" },
      { name: "Zip", type: "Text", phi: "limited" },
      { name: "Name", type: "Text", phi: "full" },
      { name: "Link", type: "Text", phi: "restricted" },
    ],
  }, { "x-csrf-token": csrf });
  assert.equal(created.status, 201, await created.clone().text());
  const list = await created.json();
  assert.deepEqual(
    list.columns.map((c: { name: string; phi: string }) => `${c.name}:${c.phi}`),
    ["Id:not_phi", "Site:not_phi", "Zip:limited", "Name:full", "Link:restricted"],
  );
  const keys = {} as Record<Level, Record<string, string>>;
  for (const phiLevel of LEVELS) {
    const made = await browser.json("POST", "/api/keys", {
      kind: "api_key",
      expiry: "never",
      phiLevel,
    }, { "x-csrf-token": csrf });
    assert.equal(made.status, 201, await made.clone().text());
    const body = await made.json();
    assert.equal(body.phiLevel, phiLevel);
    keys[phiLevel] = basic(body.key);
  }
  const inserted = await app.request(`/api/lists/${list.id}/rows`, {
    method: "POST",
    headers: { ...keys.full, "content-type": "application/json" },
    body: JSON.stringify({ rows: [{ Site: "north", Zip: "02139", Name: "Ada Lovelace" }] }),
  });
  assert.equal(inserted.status, 201, await inserted.clone().text());
  assert.deepEqual((await inserted.json()).rows, [
    { Id: 1, Site: "north", Zip: "02139", Name: "Ada Lovelace" },
  ]);
  // No door writes a restricted column: the operator fills it in the database.
  const def = await getList(t.svc, t.admin, "/home", "patients");
  await sql`update ${sql.table(def.qualifiedTable)} set link = 'internal-7'`
    .execute(t.svc.database.root);
  const request = (level: Level, path: string, init: RequestInit = {}) =>
    app.request(path, {
      ...init,
      headers: {
        ...keys[level],
        ...(init.body ? { "content-type": "application/json" } : {}),
        ...init.headers as Record<string, string>,
      },
    });
  return { app, browser, csrf, list, keys, request };
}

/** The message of an error answer: the JSON API's `error.message`, LabKey's `exception`. */
async function errorOf(response: Response): Promise<string> {
  const body = await response.json();
  return body.error?.message ?? body.exception;
}

async function auditOf(t: TestContext, event: string) {
  await t.svc.audit.flush();
  return await t.svc.db.selectFrom("audit_log").selectAll().where("event", "=", event)
    .orderBy("id").execute();
}

backendTest(
  "each key sees exactly its columns in JSON rows, export and LabKey selectRows",
  async (t) => {
    const { list, request } = await setUp(t);
    for (const level of LEVELS) {
      const rows = await request(level, `/api/lists/${list.id}/rows`);
      assert.equal(rows.status, 200);
      assert.deepEqual(Object.keys((await rows.json()).rows[0]), SEEN[level], level);

      const csv = await (await request(level, `/api/lists/${list.id}/export`)).text();
      assert.equal(csv.split(/\r?\n/)[0], SEEN[level].join(","), level);
      assert.ok(!csv.includes("internal-7"), "restricted values never leave");

      const labkey = await request(
        level,
        "/home/query-selectRows.api?schemaName=lists&query.queryName=patients",
      );
      assert.equal(labkey.status, 200);
      const body = await labkey.json();
      assert.deepEqual(Object.keys(body.rows[0]), SEEN[level], level);
      assert.deepEqual(body.metaData.fields.map((f: { name: string }) => f.name), SEEN[level]);
      const details = await (await request(
        level,
        "/home/query-getQueryDetails.api?schemaName=lists&queryName=patients",
      )).json();
      assert.deepEqual(details.columns.map((f: { name: string }) => f.name), SEEN[level]);
    }
    const withheld = await auditOf(t, "phi.withheld");
    const notPhi = withheld.filter((e) => e.credential_kind === "api_key")
      .map((e) => JSON.parse(e.detail!));
    assert.ok(notPhi.some((d) => d.phiLevel === "not_phi" && d.columns.join() === "Zip,Name,Link"));
    assert.ok(notPhi.some((d) => d.phiLevel === "full" && d.columns.join() === "Link"));
    assert.ok(!JSON.stringify(withheld).includes("Ada"), "no values in the audit log");
    const uses = await auditOf(t, "key.use");
    assert.deepEqual(
      new Set(uses.map((u) => (u.compliance as { phiLevelInForce: string }).phiLevelInForce)),
      new Set(LEVELS),
    );
  },
);

backendTest(
  "writes, filters and sorts naming a column above the key's level are refused",
  async (t) => {
    const { list, request } = await setUp(t);
    const refused = async (response: Response, pattern: RegExp) => {
      assert.equal(response.status, 403);
      const error = await errorOf(response);
      assert.match(error, pattern);
      assert.ok(!error.includes("Ada"), "no values in the error");
    };
    const needsFull = /"Name" needs PHI level full/;
    await refused(
      await request("limited", `/api/lists/${list.id}/rows`, {
        method: "POST",
        body: JSON.stringify({ rows: [{ Site: "south", Name: "Grace Hopper" }] }),
      }),
      needsFull,
    );
    await refused(
      await request("limited", `/api/lists/${list.id}/rows`, {
        method: "PATCH",
        body: JSON.stringify({ rows: [{ Id: 1, Name: "Grace Hopper" }] }),
      }),
      needsFull,
    );
    await refused(
      await request("full", `/api/lists/${list.id}/rows`, {
        method: "PATCH",
        body: JSON.stringify({ rows: [{ Id: 1, Link: "x" }] }),
      }),
      /"Link" is restricted/,
    );
    await refused(
      await request("not_phi", `/api/lists/${list.id}/import`, {
        method: "POST",
        headers: { "content-type": "text/csv" },
        body: "Site,Zip\nwest,10001\n",
      }),
      /"Zip" needs PHI level limited/,
    );
    await refused(
      await request("limited", `/api/lists/${list.id}/rows?Name~startswith=A`),
      needsFull,
    );
    await refused(await request("limited", `/api/lists/${list.id}/rows?sort=-Name`), needsFull);
    await refused(
      await request("limited", `/api/lists/${list.id}/export?columns=Id,Name`),
      needsFull,
    );
    await refused(
      await request(
        "not_phi",
        "/home/query-selectRows.api?schemaName=lists&query.queryName=patients&query.Zip~eq=02139",
      ),
      /"Zip" needs PHI level limited/,
    );
    await refused(
      await request("limited", "/home/query-insertRows.api", {
        method: "POST",
        body: JSON.stringify({ schemaName: "lists", queryName: "patients", rows: [{ Name: "x" }] }),
      }),
      needsFull,
    );
    // What the key may write still goes in, and comes back without the withheld columns.
    const allowed = await request("limited", `/api/lists/${list.id}/rows`, {
      method: "POST",
      body: JSON.stringify({ rows: [{ Site: "south", Zip: "10001" }] }),
    });
    assert.equal(allowed.status, 201);
    assert.deepEqual((await allowed.json()).rows, [{ Id: 2, Site: "south", Zip: "10001" }]);
    const audit = await auditOf(t, "phi.refused");
    assert.equal(audit.length, 9);
    assert.ok(audit.every((e) => e.outcome === "denied"));
    assert.deepEqual(JSON.parse(audit[0].detail!), {
      list: "patients",
      action: "Insert",
      phiLevel: "limited",
      columns: ["Name"],
    });
    assert.ok(!JSON.stringify(audit).includes("Grace"), "no values in the audit log");
  },
);

backendTest("API keys and the grid page follow the session's declared level", async (t) => {
  const { list } = await setUp(t);
  const limited = await signedIn(t, "limited");
  const tooHigh = await limited.browser.json("POST", "/api/keys", {
    kind: "api_key",
    expiry: "never",
    phiLevel: "full",
  }, { "x-csrf-token": limited.csrf });
  assert.equal(tooHigh.status, 403);
  assert.match(await errorOf(tooHigh), /cannot exceed your session's \(limited\)/);
  for (const [phi, seen] of [["none", SEEN.not_phi], ["limited", SEEN.limited]] as const) {
    const { browser } = phi === "limited" ? limited : await signedIn(t, phi);
    const page = await browser.get("/folders/home/-/lists/patients");
    assert.equal(page.status, 200);
    const html = await page.text();
    const headers = [...html.matchAll(/<th><a href="[^"]*">([^<]+)<\/a>/g)].map((m) => m[1]);
    assert.deepEqual(headers, seen, phi);
    assert.ok(!textOf(html).includes("Ada Lovelace"));
    assert.ok(!html.includes("internal-7"));
    const csv = await (await browser.get("/folders/home/-/lists/patients/export.csv")).text();
    assert.equal(csv.split(/\r?\n/)[0], seen.join(","));
    const rows = await (await browser.get(`/api/lists/${list.id}/rows`)).json();
    assert.deepEqual(Object.keys(rows.rows[0]), seen);
  }
});

backendTest(
  "a folder admin changes a column's PHI level: previewed, audited, enforced",
  async (t) => {
    const { browser, csrf, list, request } = await setUp(t);
    const design = (change: Record<string, unknown>) =>
      browser.json("POST", `/api/lists/${list.id}/design`, change, { "x-csrf-token": csrf });
    const preview = await design({ kind: "phi", column: "Site", phi: "limited", preview: true });
    assert.equal(preview.status, 200);
    assert.match(
      (await preview.json()).preview.effects[0],
      /Sets the PHI level of Site from Not PHI to Limited PHI/,
    );
    const key = await design({ kind: "phi", column: "Id", phi: "full" });
    assert.equal(key.status, 400);
    assert.match(await errorOf(key), /Id is the key/);
    const bad = await design({ kind: "phi", column: "Site", phi: "secret" });
    assert.equal(bad.status, 400);
    const applied = await design({ kind: "phi", column: "Site", phi: "limited" });
    assert.equal(applied.status, 200);
    const columns = (await applied.json()).list.columns;
    assert.equal(columns.find((c: { name: string }) => c.name === "Site").phi, "limited");
    const rows = await (await request("not_phi", `/api/lists/${list.id}/rows`)).json();
    assert.deepEqual(Object.keys(rows.rows[0]), ["Id"]);
    const added = await design({
      kind: "add",
      column: { name: "Dob", type: "Date", phi: "full" },
    });
    assert.equal(added.status, 200);
    const limitedRows = await (await request("limited", `/api/lists/${list.id}/rows`)).json();
    assert.deepEqual(Object.keys(limitedRows.rows[0]), ["Id", "Site", "Zip"]);
    const audit = await auditOf(t, "list.design");
    assert.deepEqual(JSON.parse(audit[0].detail!), {
      list: "patients",
      change: { kind: "phi", column: "Site", phi: "limited" },
    });
    assert.equal((audit[0].compliance as { phiLevelInForce: string }).phiLevelInForce, "full");

    const page = await (await browser.get("/folders/home/-/lists/patients")).text();
    assert.match(page, /aria-label="Change a PHI level"/);
    assert.match(textOf(page), /Site \(now Limited PHI\)/);
    const form = await browser.postForm("/folders/home/-/lists/patients", {
      _csrf: csrf,
      _action: "design-preview",
      kind: "phi",
      column: "Zip",
      phi: "restricted",
    });
    assert.equal(form.status, 200);
    assert.match(textOf(await form.text()), /no request sees it, through any door/);
  },
);

backendTest("POST /api/folders/{id}/lists refuses a PHI key and an unknown level", async (t) => {
  const { browser, csrf } = await setUp(t);
  const home = (await getContainerByPath(t.svc, "/home"))!;
  const create = (columns: unknown[]) =>
    browser.json("POST", `/api/folders/${home.id}/lists`, {
      name: "visits",
      key: "Mrn",
      columns,
    }, { "x-csrf-token": csrf });
  const keyed = await create([{ name: "Mrn", type: "Text", phi: "full" }]);
  assert.equal(keyed.status, 400);
  assert.match(await errorOf(keyed), /The key Mrn identifies rows on every door/);
  const unknown = await create([
    { name: "Mrn", type: "Text" },
    { name: "Note", type: "Text", phi: "secret" },
  ]);
  assert.equal(unknown.status, 400);
});

backendTest(
  "LabKey executeSql reads a list without the columns above the level and refuses naming them",
  async (t) => {
    const { request } = await setUp(t);
    const run = (level: Level, text: string) =>
      request(level, "/home/query-executeSql.api", {
        method: "POST",
        body: JSON.stringify({ schemaName: "lists", sql: text }),
      });
    const values: Record<string, string | number> = { Id: 1, Site: "north", Zip: "02139" };
    values.Name = "Ada Lovelace";
    for (const level of LEVELS) {
      for (
        const text of [
          "select * from lists.patients p",
          "select p.* from (select * from patients) p",
          "table patients",
          "select * from only lists.patients",
        ]
      ) {
        const answer = await run(level, text);
        assert.equal(answer.status, 200, `${level}: ${text}`);
        const body = await answer.json();
        assert.deepEqual(body.rows, [Object.fromEntries(SEEN[level].map((c) => [c, values[c]]))]);
      }
      const names = ["select Link from patients", "select s.link from (select * from patients) s"];
      if (level !== "full") names.push("select count(*) from patients where Name like 'A%'");
      for (const text of names) {
        const answer = await run(level, text);
        assert.equal(answer.status, 403, `${level}: ${text}`);
        const message = await errorOf(answer);
        assert.match(message, /^Column "(Link" is restricted|Name" needs PHI level full)/);
        assert.match(message, new RegExp(`your level: ${level}`));
        assert.doesNotMatch(message, /north|Ada|02139|internal-7/);
      }
    }
    assert.equal((await run("full", "select Name from patients")).status, 200);
  },
);
