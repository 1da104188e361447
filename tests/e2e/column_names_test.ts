/** psql and psycopg2 see a list's columns as the list defines them (capitals kept). */
import assert from "node:assert/strict";
import { createList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { backendTest } from "../_support/backends.ts";
import { ALICE, doorUrl, FOLDER, openDoor } from "../wire/_door.ts";
import { installed, PYTHON, run, runPython, skipped } from "./_clients.ts";

async function plates(t: Parameters<Parameters<typeof backendTest>[1]>[0]) {
  const def = await createList(t.svc, t.admin, FOLDER, {
    name: "Plates",
    key: "SampleId",
    columns: [{ name: "SampleId", type: "Text" }, { name: "DoseMg", type: "Double" }],
  });
  await insertRows(t.svc, t.admin, def, [{ SampleId: "S1", DoseMg: 1.5 }]);
}

backendTest("psql's \\d and a query's header show list columns as defined", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t);
  await plates(t);
  const url = doorUrl(fx.port, ALICE, FOLDER, "?sslmode=disable");
  const describe = await run("psql", ["-X", url, "-c", "\\d lists.plates"]);
  assert.equal(describe.code, 0, describe.stderr);
  assert.match(describe.stdout, /SampleId/);
  assert.match(describe.stdout, /DoseMg/);
  const header = await run("psql", [
    "-X",
    "-A",
    url,
    "-c",
    "select * from plates where \"SampleId\" = 'S1'",
  ]);
  assert.equal(header.code, 0, header.stderr);
  assert.match(header.stdout, /^SampleId\|DoseMg\nS1\|1\.5\n/);
});

backendTest("psycopg2's cursor.description names list columns as defined", async (t) => {
  if (!await installed(PYTHON, ["-c", "import psycopg2"])) return skipped("python3-psycopg2");
  await using fx = await openDoor(t);
  await plates(t);
  const result = await runPython(
    `
import json, sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute('select * from plates')
print(json.dumps([d.name for d in cur.description]))
cur.execute('select "DoseMg" from plates where sampleid = %s', ("S1",))
print(json.dumps(cur.fetchall()))
`,
    [doorUrl(fx.port, ALICE, FOLDER, "?sslmode=disable")],
  );
  assert.equal(result.code, 0, result.stderr);
  const [names, rows] = result.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(names, ["SampleId", "DoseMg"]);
  assert.deepEqual(rows, [[1.5]]);
});
