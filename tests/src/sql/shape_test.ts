import assert from "node:assert/strict";
import { numbersAsParameters, parameterSlots } from "../../../src/sql/shape.ts";

Deno.test("numbersAsParameters() turns each number into a parameter", () => {
  const cases: [string, string, string[]][] = [
    ["select 1", "select $1", ["1"]],
    [
      "select 1.5, .5, 1e5, 2.E-3 from t where x=-7 and y in (8,9)",
      "select $1, $2, $3, $4 from t where x=-$5 and y in ($6,$7)",
      ["1.5", ".5", "1e5", "2.E-3", "7", "8", "9"],
    ],
    [
      "select 'a1''2' || \"c3\"\"\", t4, 5 -- 6\n/* 7 /* 8 */ 9 */ from t limit 10",
      "select 'a1''2' || \"c3\"\"\", t4, $1 -- 6\n/* 7 /* 8 */ 9 */ from t limit $2",
      ["5", "10"],
    ],
    ["select x::varchar(20), é5, 5", "select x::varchar($1), é5, $2", ["20", "5"]],
  ];
  for (const [text, shape, numbers] of cases) {
    const result = numbersAsParameters(text);
    assert.equal(result?.text, shape, text);
    assert.deepEqual(result?.numbers.map((n) => n.text), numbers, text);
    for (const n of result!.numbers) assert.equal(text.slice(n.at, n.at + n.text.length), n.text);
  }
});

Deno.test("numbersAsParameters() leaves texts it cannot read for sure to the full analysis", () => {
  for (
    const text of [
      "select x from t", // no numbers
      "select $1, 2", // parameters
      "select $$5$$", // dollar quotes
      "select E'\\'', 5", // backslash escapes
      "select '𝄞', 5", // surrogate pairs
      "select 'open, 5", // unterminated
      "select 5 /* open",
      "select 0x1F", // version-dependent numbers
      "select 1_000",
      "select 1e",
      "select 1..2",
      "select t.5",
      "select 5abc",
      "select \ue0005", // an identifier: every non-ASCII character is a letter
    ]
  ) assert.equal(numbersAsParameters(text), null, text);
});

Deno.test("parameterSlots() finds $1…$n in order, or null", () => {
  assert.deepEqual(parameterSlots("select $1, $2 from x", 2), [7, 11]);
  assert.equal(parameterSlots("select $2, $1", 2), null);
  assert.equal(parameterSlots("select $1", 2), null);
  assert.equal(parameterSlots("select $1, $1", 1), null);
});
