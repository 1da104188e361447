/**
 * What `deno task test` prints after deno test's own summary: the files and
 * tests that took longest, read from the lines deno test prints per test. Under
 * `--parallel` the wall clock is bounded by the sum of the files' times over
 * DENO_JOBS and by the longest single file; these lines say which to work on
 * (docs/testing.md).
 */

/** One test's time from the report. */
export interface TestTime {
  file: string;
  name: string;
  seconds: number;
}

/** `1m2s`, `27s`, `7ms`, `506µs` as deno test prints a test's time. */
function seconds(text: string): number {
  let total = 0;
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|µs|m|s)/g)) {
    total += Number(value) * { m: 60, s: 1, ms: 1e-3, "µs": 1e-6 }[unit as "m" | "s" | "ms" | "µs"];
  }
  return total;
}

/**
 * The test a line of deno test's output under --parallel reports
 * (`./tests/x_test.ts => name ... ok (27s)`), or null. Its JUnit report
 * cannot say this: it files every backendTest under tests/_support/backends.ts,
 * where Deno.test is called.
 */
export function testTime(line: string): TestTime | null {
  // deno-lint-ignore no-control-regex
  const plain = line.replace(/\x1b\[[0-9;]*m/g, "").trim();
  const match = plain.match(/^\.\/(\S+) => (.*) \.\.\. (?:ok|FAILED|ignored) \(([^)]+)\)$/);
  return match ? { file: match[1], name: match[2], seconds: seconds(match[3]) } : null;
}

function format(seconds: number): string {
  return `${seconds.toFixed(1).padStart(7)} s`;
}

/** The summary: `top` slowest files and tests, and the time spent per backend. */
export function timesSummary(times: TestTime[], top = 15): string {
  const byFile = new Map<string, { seconds: number; tests: number }>();
  const byBackend = { pglite: 0, postgres: 0, neither: 0 };
  for (const t of times) {
    const file = byFile.get(t.file) ?? { seconds: 0, tests: 0 };
    file.seconds += t.seconds;
    file.tests++;
    byFile.set(t.file, file);
    const backend = t.name.endsWith("[pglite]")
      ? "pglite"
      : t.name.endsWith("[postgres]")
      ? "postgres"
      : "neither";
    byBackend[backend] += t.seconds;
  }
  const total = times.reduce((sum, t) => sum + t.seconds, 0);
  const files = [...byFile].sort((a, b) => b[1].seconds - a[1].seconds).slice(0, top);
  const tests = [...times].sort((a, b) => b.seconds - a.seconds).slice(0, top);
  return [
    `test time: ${format(total).trim()} in ${byFile.size} files (PGlite ${
      format(byBackend.pglite).trim()
    }, PostgreSQL ${format(byBackend.postgres).trim()}, neither ${
      format(byBackend.neither).trim()
    })`,
    `slowest files (sum of their tests):`,
    ...files.map(([file, f]) => `${format(f.seconds)}  ${file} (${f.tests} tests)`),
    `slowest tests:`,
    ...tests.map((t) => `${format(t.seconds)}  ${t.file} => ${t.name}`),
  ].join("\n");
}

/** Each file's time in a run: the sum of its tests'. */
export function fileSeconds(times: TestTime[]): Record<string, number> {
  const files: Record<string, number> = {};
  for (const t of times) files[t.file] = (files[t.file] ?? 0) + t.seconds;
  return files;
}

/**
 * What a file not timed yet is taken to need: real-client and wire tests
 * are the long ones.
 */
function guess(file: string): number {
  return /^tests\/(e2e|wire)\//.test(file) ? 10 : 3;
}

/**
 * Test files longest first, by their last run's times (`known`, by path
 * from the project root): under --parallel a long file started last keeps
 * the run going after the others are done.
 */
export function longestFirst(files: string[], known: Record<string, number>): string[] {
  const seconds = (file: string) => known[file] ?? guess(file);
  return files.toSorted((a, b) => seconds(b) - seconds(a) || a.localeCompare(b));
}
