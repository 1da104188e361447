/**
 * What analyze() costs per statement: cold (parse, check and rewrite) and
 * cached, over the statements real clients send (/work/shared/clients when
 * present) plus a few typical queries.
 *
 *   deno run -A bench/sql_analyze.ts [rounds]
 */
import { parse } from "../src/sql/parser.ts";
import { analyze, type FolderScope } from "../src/sql/mod.ts";

const CLIENTS = "/work/shared/clients";
const rounds = Number(Deno.args[0] ?? 20);

function corpus(): string[] {
  const texts: string[] = [];
  try {
    for (const entry of Deno.readDirSync(CLIENTS)) {
      if (!entry.name.endsWith(".sql")) continue;
      const text = Deno.readTextFileSync(`${CLIENTS}/${entry.name}`);
      for (const chunk of text.split(/^-- \[\d+\].*$/m).slice(1)) {
        const sql = chunk.split(/^-- =+/m)[0].trim();
        if (sql) texts.push(sql);
      }
    }
  } catch {
    console.log(`${CLIENTS} not found: timing the built-in queries only`);
  }
  return texts;
}

const statements = [
  ...corpus(),
  "SELECT 1",
  "SELECT * FROM lists.samples WHERE site_id = $1 ORDER BY sample_id",
  "SELECT s.label, count(*) FROM samples s JOIN sites t ON t.site_id = s.site_id GROUP BY 1",
  "SET DateStyle = 'ISO';SET extra_float_digits = 2;show transaction_isolation",
];

function scope(containerId: number): FolderScope {
  return {
    containerId,
    containerPath: `/home/f${containerId}`,
    schema: `lg_c${containerId}`,
    role: `lg_bench_c${containerId}`,
    userId: 1,
    userEmail: "bench@example.org",
    readableFolders: [],
    statementTimeoutMs: 30_000,
  };
}

function time(label: string, run: () => void, count: number) {
  run(); // warm up the JIT
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    run();
    samples.push((performance.now() - started) * 1000 / count);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  console.log(
    `${label.padEnd(34)} ${median.toFixed(2).padStart(8)} µs/statement (median of ${rounds})`,
  );
}

const bytes = statements.reduce((n, s) => n + s.length, 0);
console.log(
  `${statements.length} statements, ${
    (bytes / statements.length).toFixed(0)
  } characters on average`,
);
let folder = 1_000_000;
time("libpg_query parse only", () => statements.forEach((s) => parse(s)), statements.length);
time("analyze() cold (new folder)", () => {
  const fresh = scope(folder++);
  for (const s of statements) analyze(s, fresh);
}, statements.length);
const warm = scope(1);
statements.forEach((s) => analyze(s, warm));
time("analyze() cached", () => statements.forEach((s) => analyze(s, warm)), statements.length);
const longest = statements.reduce((a, b) => (b.length > a.length ? b : a));
time(
  `analyze() cold, longest (${longest.length} chars)`,
  () => analyze(longest, scope(folder++)),
  1,
);
