import assert from "node:assert/strict";
import { analyzeQuery, type QueryScope } from "../../../src/sql/mod.ts";

const SCOPE: QueryScope = {
  containerPath: "/home/lab",
  schema: "lg_c7",
  shownColumns: [{ name: "SampleId" }],
  withheldTables: [{
    table: "patients",
    visible: ["id", "site"],
    withheld: [{ column: "mrn", message: 'Column "MRN" needs PHI level full' }],
  }],
  listsOnly: { door: "executeSql", lists: new Set(["samples", "patients"]) },
};

function rewritten(text: string): string {
  const analysis = analyzeQuery(text, SCOPE);
  assert.ok(analysis.ok, JSON.stringify(analysis));
  return analysis.text;
}

function refusal(text: string) {
  const analysis = analyzeQuery(text, SCOPE);
  assert.ok(!analysis.ok, text);
  return analysis;
}

Deno.test("analyzeQuery() rewrites the folder's lists to their physical names", () => {
  assert.equal(
    rewritten('select s."SampleId" from lists.Samples s;'),
    'select s.sampleid from lg_c7."samples" s',
  );
  assert.equal(rewritten("select * from samples -- c"), 'select * from lg_c7."samples" -- c');
  assert.equal(
    rewritten("table patients"),
    'SELECT * FROM (SELECT "id", "site" FROM lg_c7."patients") "patients"',
  );
});

Deno.test("analyzeQuery() refuses what is not one SELECT of the lists, in the door's words", () => {
  for (
    const [text, message] of [
      ["select 1; select 2", /^Send exactly one SQL statement$/],
      ["delete from samples", /^Only SELECT statements can be run: executeSql is read-only$/],
      ["select * from pg_class", /^No list named pg_class in this folder/],
      ["select * from core.users", /^Only this folder's lists can be queried/],
      ["select pg_sleep(1)", /^Function pg_sleep\(\) is not allowed in executeSql$/],
      ["select 1::regclass", /^Type regclass is not allowed in executeSql$/],
      ["select current_user", /^current_user is not allowed in executeSql$/],
      ["with x as (delete from samples returning *) select 1", /^DELETE changes data/],
      ["select * from samples for update", /^FOR UPDATE\/SHARE locks rows/],
      ["select from where", /^SQL syntax error/],
    ] as const
  ) {
    const { refusal: r, withheld } = refusal(text);
    assert.match(r.message, message, text);
    assert.equal(withheld, undefined, text);
  }
});

Deno.test("analyzeQuery() marks a refusal for naming a withheld column", () => {
  const answer = refusal("select p.mrn from patients p");
  assert.equal(answer.withheld, true);
  assert.equal(answer.refusal.message, 'Column "MRN" needs PHI level full');
});
