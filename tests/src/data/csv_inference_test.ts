import assert from "node:assert/strict";
import { loadConfig } from "../../../src/config.ts";
import { inferColumns } from "../../../src/data/csv_inference.ts";

const { importLimits } = loadConfig({});

Deno.test("inferColumns() gives each column the narrowest type all its values fit", async () => {
  const csv = [
    "SampleId,Count,Big,Conc,Ratio,Ok,Day,Taken,Stamped,Uid,Meta,Note",
    'S1,3,9000000000,12.50,0.5,true,2026-01-02,2026-01-02 10:00,2026-01-02T10:00:00Z,0b7e8c3e-8a51-4a8e-9d5c-1b2f3a4b5c6d,"{""a"":1}",hello',
    "S2,,1,3.00,2,no,2026-02-03,2026-02-03 11:30:05,2026-02-03 11:30:05+02:00,7c9e6679-7425-40de-944b-e07fc1f90ae7,[1],",
  ].join("\n");
  const inferred = await inferColumns(csv, importLimits);
  assert.deepEqual(inferred.columns.map((c) => [c.name, c.type, c.required]), [
    ["SampleId", "Text", true],
    ["Count", "Integer", false],
    ["Big", "BigInteger", true],
    ["Conc", "Decimal", true],
    ["Ratio", "Double", true],
    ["Ok", "Boolean", true],
    ["Day", "Date", true],
    ["Taken", "DateTime", true],
    ["Stamped", "Timestamp", true],
    ["Uid", "UUID", true],
    ["Meta", "JSON", true],
    ["Note", "Text", false],
  ]);
  assert.equal(inferred.key, "SampleId", "the first keyable column with distinct values");
  assert.equal(inferred.rows, 2);
});

Deno.test("inferColumns() picks no key when none is distinct, and reads TSV", async () => {
  const inferred = await inferColumns("Site\tDose\nOslo\t1.5\nOslo\t2\n", importLimits);
  assert.deepEqual(inferred.columns.map((c) => c.type), ["Text", "Double"]);
  assert.equal(inferred.key, null);
});

Deno.test("inferColumns() refuses files that are not UTF-8 or have no data row", async () => {
  await assert.rejects(
    () => inferColumns(new Uint8Array([0x41, 0x0a, 0xe9, 0x0a]), importLimits),
    /not valid UTF-8/,
  );
  await assert.rejects(() => inferColumns("A,B\n", importLimits), /at least one data row/);
});
