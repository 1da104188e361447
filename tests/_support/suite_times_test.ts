import assert from "node:assert/strict";
import { fileSeconds, longestFirst, testTime, timesSummary } from "./suite_times.ts";

const OUTPUT = [
  "\x1b[0m\x1b[38;5;245m./tests/a_test.ts => \x1b[0mreads & writes [pglite] ... \x1b[0m\x1b[32mok\x1b[0m " +
  "\x1b[0m\x1b[38;5;245m(1s500ms)\x1b[0m",
  "./tests/a_test.ts => reads & writes [postgres] ... ok (250ms)",
  "------- post-test output -------",
  "./tests/b_test.ts => parses ... FAILED (750ms)",
  "./tests/b_test.ts => waits ... ok (1m2s)",
  "ok | 4 passed | 0 failed (1m4s)",
];
const TIMES = OUTPUT.map(testTime).filter((t) => t !== null);

Deno.test("testTime() reads a test's file, name and time from deno test's line for it", () => {
  assert.deepEqual(TIMES, [
    { file: "tests/a_test.ts", name: "reads & writes [pglite]", seconds: 1.5 },
    { file: "tests/a_test.ts", name: "reads & writes [postgres]", seconds: 0.25 },
    { file: "tests/b_test.ts", name: "parses", seconds: 0.75 },
    { file: "tests/b_test.ts", name: "waits", seconds: 62 },
  ]);
  assert.ok(
    Math.abs(testTime("./tests/c_test.ts => slow ... ok (506µs)")!.seconds - 506e-6) < 1e-9,
  );
});

Deno.test("timesSummary() ranks files by the sum of their tests and splits time by backend", () => {
  const summary = timesSummary(TIMES, 1).split("\n");
  assert.deepEqual(summary, [
    "test time: 64.5 s in 2 files (PGlite 1.5 s, PostgreSQL 0.3 s, neither 62.8 s)",
    "slowest files (sum of their tests):",
    "   62.8 s  tests/b_test.ts (2 tests)",
    "slowest tests:",
    "   62.0 s  tests/b_test.ts => waits",
  ]);
});

Deno.test("longestFirst() orders files by their last times, guessing the untimed ones", () => {
  const known = fileSeconds(TIMES);
  assert.deepEqual(known, { "tests/a_test.ts": 1.75, "tests/b_test.ts": 62.75 });
  assert.deepEqual(
    longestFirst([
      "tests/a_test.ts",
      "tests/src/new_test.ts",
      "tests/e2e/new_test.ts",
      "tests/b_test.ts",
    ], known),
    ["tests/b_test.ts", "tests/e2e/new_test.ts", "tests/src/new_test.ts", "tests/a_test.ts"],
  );
});
