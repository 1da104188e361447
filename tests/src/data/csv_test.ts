import assert from "node:assert/strict";
import { loadConfig } from "../../../src/config.ts";
import { readDelimited } from "../../../src/data/csv.ts";
import { LabgateError } from "../../../src/errors.ts";

const limits = loadConfig({}).importLimits;

async function refusal(input: string, given = limits): Promise<LabgateError> {
  const error = await readDelimited(input, { limits: given }).then(() => null, (e) => e);
  assert.ok(error instanceof LabgateError, `expected a LabgateError, got ${error}`);
  return error;
}

Deno.test("readDelimited() reads quoted cells with line breaks across its pieces", async () => {
  const rows = Array.from({ length: 40_000 }, (_, i) => `${i},"line one\nline ""two"", ${i}"`);
  const file = await readDelimited(`\uFEFFId,Note\r\n${rows.join("\r\n")}\r\n`, { limits });
  assert.deepEqual(file.header, ["Id", "Note"]);
  assert.equal(file.data.length, 40_000);
  assert.deepEqual(file.data[39_999], ["39999", 'line one\nline "two", 39999']);
  assert.equal(file.format, "csv");
});

Deno.test("readDelimited() names the line of an error past its first piece", async () => {
  const rows = Array.from({ length: 30_000 }, (_, i) => `${i},ok`);
  rows[25_000] = "25000,ok,extra";
  const error = await readDelimited(`Id,Note\n${rows.join("\n")}\n`, { limits })
    .then(() => null, (e) => e as Error);
  assert.match(error?.message ?? "", /not valid CSV: .*line 25002/);
});

Deno.test("readDelimited() refuses a runaway header quickly, before parsing it", async () => {
  const header = Array.from({ length: 1_000_000 }, (_, i) => `c${i}`).join(",");
  const started = performance.now();
  const error = await refusal(`${header}\n${"1,".repeat(999_999)}1\n`);
  assert.equal(error.status, 400);
  assert.match(
    error.message,
    /header row is longer than 64 KB \(LABGATE_IMPORT_HEADER_BYTES\)/,
  );
  assert.ok(performance.now() - started < 1000, "refused before the header was parsed");
});

Deno.test("readDelimited() refuses more columns than a list may have", async () => {
  const header = Array.from({ length: 501 }, (_, i) => `c${i}`).join(",");
  const error = await refusal(`${header}\n${"1,".repeat(500)}1\n`);
  assert.equal(error.status, 400);
  assert.match(error.message, /header names 501 columns, more than the 500 a list may have/);
});

Deno.test("readDelimited() refuses files above the size and row limits with 413", async () => {
  const text = `A,B\n${"1,2\n".repeat(2000)}`;
  const big = await refusal(text, { ...limits, maxBytes: 1024 });
  assert.equal(big.status, 413);
  assert.match(
    big.message,
    /more than the 1024 bytes one import may be \(LABGATE_IMPORT_MAX_BYTES\)/,
  );
  const long = await refusal(text, { ...limits, maxRows: 1000 });
  assert.equal(long.status, 413);
  assert.match(long.message, /more than the 1000 rows .*LABGATE_IMPORT_MAX_ROWS/);
});

Deno.test("readDelimited() lets timers run while it parses a large file", async () => {
  const rows = Array.from({ length: 200_000 }, (_, i) => `${i},text ${i},"quoted, ${i}"`);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const file = await readDelimited(`A,B,C\n${rows.join("\n")}\n`, { limits });
    assert.equal(file.data.length, 200_000);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks >= 3, `the parse paused for timers (${ticks} ticks)`);
});

Deno.test("readDelimited() reads lines ended by CR alone, and skips blank lines first", async () => {
  const mac = await readDelimited("Id,Note\r1,a\r2,b\r", { limits });
  assert.deepEqual(mac.data, [["1", "a"], ["2", "b"]]);
  const blank = await readDelimited("\n\r\nId\tNote\n1\ta\n", { limits });
  assert.deepEqual([blank.header, blank.data, blank.format], [["Id", "Note"], [["1", "a"]], "tsv"]);
});
