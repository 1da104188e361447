/**
 * What analyze() costs per statement: cold (parse, check and rewrite) and
 * cached, over the statements real clients send (/work/shared/clients when
 * present) plus a few typical queries.
 *
 *   deno run -A bench/sql_analyze.ts [iterations per statement]
 */
import { parse } from "../src/sql/parser.ts";
import { analyze, type FolderScope } from "../src/sql/mod.ts";

const CLIENTS = "/work/shared/clients";
const rounds = Number(Deno.args[0] ?? 50);

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

/** The samples list with a column above the level: read as a subquery, names checked. */
const WITHHELD: FolderScope["withheldTables"] = [{
  table: "samples",
  visible: ["sample_id", "site_id", "label"],
  withheld: [{
    column: "mrn",
    relation: 16384,
    attnum: 4,
    message: 'Column "mrn" needs PHI level full',
  }],
}];

function scope(
  containerId: number,
  withheldTables: FolderScope["withheldTables"] = [],
): FolderScope {
  return {
    containerId,
    containerPath: `/home/f${containerId}`,
    schema: `lg_c${containerId}`,
    role: `lg_bench_c${containerId}`,
    userId: 1,
    userEmail: "bench@example.org",
    readableFolders: [],
    statementTimeoutMs: 30_000,
    shownColumns: [],
    phiLevel: "not_phi",
    withheldTables,
  };
}

/** Median cost of `run(statement)` for each statement, in microseconds. */
function costs(run: (statement: string) => void, iterations: number): number[] {
  return statements.map((statement) => {
    run(statement); // warm up the JIT
    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const started = performance.now();
      run(statement);
      samples.push((performance.now() - started) * 1000);
    }
    return percentile(samples, 0.5);
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function report(label: string, values: number[]) {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const figures = [percentile(values, 0.5), percentile(values, 0.95), Math.max(...values), mean];
  console.log(`${label.padEnd(30)} ${figures.map((f) => f.toFixed(1).padStart(8)).join(" ")}`);
}

const characters = statements.reduce((n, s) => n + s.length, 0) / statements.length;
console.log(`${statements.length} statements, ${characters.toFixed(0)} characters on average`);
console.log(`${"µs per statement".padEnd(30)}   median      p95      max     mean`);
let folder = 1_000_000;
report("libpg_query parse only", costs((s) => parse(s), rounds));
// A new folder each time defeats the cache: parse, check and rewrite.
report("analyze() cold", costs((s) => analyze(s, scope(folder++)), rounds));
const warm = scope(1);
report("analyze() cached", costs((s) => analyze(s, warm), rounds * 10));
report("analyze() cold, PHI withheld", costs((s) => analyze(s, scope(folder++, WITHHELD)), rounds));
const warmWithheld = scope(2, WITHHELD);
report("analyze() cached, PHI withheld", costs((s) => analyze(s, warmWithheld), rounds * 10));
