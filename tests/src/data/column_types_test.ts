import assert from "node:assert/strict";
import { outputValue, parseValue } from "../../../src/data/column_types.ts";

Deno.test("parseValue() accepts well-formed values and normalises them", () => {
  const cases: [Parameters<typeof parseValue>[0], unknown, string | null][] = [
    ["Integer", " 42 ", "42"],
    ["Integer", -7, "-7"],
    ["BigInteger", "9007199254740993", "9007199254740993"],
    ["Decimal", "1.5e3", "1.5e3"],
    ["Double", 0.25, "0.25"],
    ["Boolean", "Yes", "true"],
    ["Boolean", false, "false"],
    ["Date", "2024-02-29", "2024-02-29"],
    ["DateTime", "2024-02-29T13:05", "2024-02-29 13:05"],
    ["Timestamp", "2024-02-29 13:05:00Z", "2024-02-29 13:05:00Z"],
    ["UUID", "6F9619FF-8B86-D011-B42D-00C04FC964FF", "6f9619ff-8b86-d011-b42d-00c04fc964ff"],
    ["JSON", { a: [1, 2] }, '{"a":[1,2]}'],
    ["Text", "  kept as typed ", "  kept as typed "],
    ["Integer", "", null],
    ["Text", null, null],
  ];
  for (const [type, input, expected] of cases) {
    assert.deepEqual(parseValue(type, input), { ok: true, text: expected }, `${type} ${input}`);
  }
});

Deno.test("parseValue() refuses bad values with a message that names the value", () => {
  const cases: [Parameters<typeof parseValue>[0], unknown, RegExp][] = [
    ["Integer", "1.5", /"1.5" is not a whole number/],
    ["Integer", "2147483648", /does not fit in an Integer/],
    ["Decimal", "abc", /"abc" is not a number/],
    ["Boolean", "maybe", /"maybe" is not true or false/],
    ["Date", "2023-02-29", /"2023-02-29" is not a date/],
    ["Date", "29/02/2024", /use YYYY-MM-DD/],
    ["DateTime", "2024-01-01 25:00", /is not a date and time/],
    ["Timestamp", "2024-01-01 10:00", /time zone/],
    ["UUID", "not-a-uuid", /is not a UUID/],
    ["JSON", "{oops", /not valid JSON/],
    ["Integer", [1], /expected a single value/],
  ];
  for (const [type, input, message] of cases) {
    const result = parseValue(type, input);
    assert.equal(result.ok, false, `${type} ${input}`);
    if (!result.ok) assert.match(result.error, message);
  }
});

Deno.test("outputValue() turns database text into JSON values", () => {
  assert.equal(outputValue("Integer", "42"), 42);
  assert.equal(outputValue("BigInteger", "9007199254740993"), "9007199254740993");
  assert.equal(outputValue("Boolean", "true"), true);
  assert.equal(outputValue("Double", "2.50"), 2.5);
  assert.deepEqual(outputValue("JSON", '{"a":1}'), { a: 1 });
  assert.equal(outputValue("Date", null), null);
});

Deno.test("outputValue() keeps a Decimal's digits and scale, and writes dates in ISO 8601", () => {
  assert.equal(outputValue("Decimal", "12.50"), "12.50");
  assert.equal(outputValue("Decimal", "0.10000000000000000001"), "0.10000000000000000001");
  assert.equal(outputValue("Date", "2024-02-29"), "2024-02-29");
  assert.equal(outputValue("DateTime", "2024-02-29 08:30:00"), "2024-02-29T08:30:00");
  assert.equal(outputValue("DateTime", "2024-02-29 08:30:00.25"), "2024-02-29T08:30:00.25");
  assert.equal(outputValue("Timestamp", "2024-02-29 06:30:00+00"), "2024-02-29T06:30:00Z");
  assert.equal(
    outputValue("Timestamp", "2024-02-29 06:30:00.123456+00"),
    "2024-02-29T06:30:00.123456Z",
  );
  assert.equal(outputValue("Timestamp", "2024-02-29 12:00:00+05:30"), "2024-02-29T12:00:00+05:30");
  assert.equal(outputValue("Timestamp", "2024-02-29 01:30:00-05"), "2024-02-29T01:30:00-05:00");
});
