import assert from "node:assert/strict";
import { createList } from "../../src/data/lists.ts";
import { insertRows, rowBatches } from "../../src/data/rows.ts";
import { backendTest } from "../_support/backends.ts";
import { textOf } from "../_support/http.ts";
import { browserOf } from "../_support/keys.ts";

async function samples(t: Parameters<Parameters<typeof backendTest>[1]>[0]) {
  const def = await createList(t.svc, t.admin, "/home", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }, { name: "Dose", type: "Integer" }, {
      name: "Site",
      type: "Text",
    }],
  });
  await insertRows(
    t.svc,
    t.admin,
    def,
    Array.from(
      { length: 120 },
      (_, i) => ({ Name: `s${i}`, Dose: i, Site: i % 3 ? "Oslo" : "Lyon" }),
    ),
  );
  return def;
}

const GRID = "/folders/home/-/lists/samples";

backendTest("the list grid filters, sorts, pages and chooses columns from its URL", async (t) => {
  await samples(t);
  const { browser } = await browserOf(t);
  const added = await browser.get(`${GRID}?add.column=Site&add.op=eq&add.value=Lyon`);
  assert.equal(added.status, 303);
  assert.equal(added.headers.get("location"), `${GRID}?Site%7Eeq=Lyon`);
  const lyon = textOf(await (await browser.get(`${GRID}?Site~eq=Lyon`)).text());
  assert.match(lyon, /40 rows match the filters/);
  assert.match(lyon, /Site equals Lyon remove/);
  const both = await browser.get(`${GRID}?Site~eq=Lyon&add.column=Dose&add.op=gte&add.value=60`);
  const bothUrl = both.headers.get("location")!;
  assert.match(textOf(await (await browser.get(bothUrl)).text()), /20 rows match the filters/);

  const sorted = await (await browser.get(`${GRID}?sort=Dose&desc=1`)).text();
  assert.ok(sorted.indexOf(">s119<") < sorted.indexOf(">s118<"), "sorted descending");
  const second = textOf(await (await browser.get(`${GRID}?sort=Dose&page=2`)).text());
  assert.match(second, /Page 2 of/);

  const chosen = await browser.get(`${GRID}?Site~eq=Oslo&show.choose=1&show=Name`);
  const chosenUrl = chosen.headers.get("location")!;
  assert.match(chosenUrl, /columns=Name/);
  assert.match(chosenUrl, /Site%7Eeq=Oslo/, "the filter stays");
  const narrow = await (await browser.get(chosenUrl)).text();
  const header = narrow.slice(narrow.indexOf("<thead>"), narrow.indexOf("</thead>"));
  assert.match(header, />Id</, "the key stays");
  assert.match(header, />Name</);
  assert.doesNotMatch(header, />Dose</);

  const bad = await browser.get(`${GRID}?Nope~eq=1`);
  assert.equal(bad.status, 400);
});

backendTest("the grid exports what it shows, every page of it, as CSV or TSV", async (t) => {
  await samples(t);
  const { browser } = await browserOf(t);
  const tsv = await browser.get(
    `${GRID}/export.tsv?Site~eq=Lyon&columns=Name,Dose&sort=Dose&desc=1`,
  );
  assert.equal(tsv.headers.get("content-type"), "text/tab-separated-values; charset=utf-8");
  const lines = (await tsv.text()).trim().split("\r\n");
  assert.equal(lines[0], "Name\tDose");
  assert.equal(lines.length, 41);
  assert.equal(lines[1], "s117\t117");
  const csv = (await (await browser.get(`${GRID}/export.csv`)).text()).trim().split("\r\n");
  assert.equal(csv.length, 121);
});

backendTest(
  "rowBatches() reads every row once, in key order or sorted, batch by batch",
  async (t) => {
    const def = await samples(t);
    const keyed: unknown[] = [];
    for await (const batch of rowBatches(t.svc, t.admin, def, {}, 7)) {
      assert.ok(batch.length <= 7);
      keyed.push(...batch.map((r) => r.Id));
    }
    assert.deepEqual(keyed, Array.from({ length: 120 }, (_, i) => i + 1));
    const sorted: unknown[] = [];
    for await (
      const batch of rowBatches(t.svc, t.admin, def, {
        sort: [{ column: "Dose", descending: true }],
        columns: ["Dose"],
        filters: [{ column: "Site", op: "eq", value: "Lyon" }],
      }, 9)
    ) sorted.push(...batch.map((r) => r.Dose));
    assert.deepEqual(sorted, Array.from({ length: 40 }, (_, i) => 117 - 3 * i));
  },
);
