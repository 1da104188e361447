/**
 * Bulk extract: what analysts do when they pull a whole list into pandas, R or
 * a BI tool. A 200k-row list of six columns (integer key, text, double,
 * decimal, timestamp, boolean) read whole by psql (`select *`), by psql
 * `COPY (select …) TO STDOUT` and by psycopg2 `fetchall()`, through the door
 * and from the physical table directly, the two taken in turn each round.
 * Targets: ≥ 0.95× direct throughput, and the door's memory flat in the row
 * count (it relays rows as they come, never holding a result whole).
 */
import { sql } from "kysely";
import { createList } from "../src/data/lists.ts";
import {
  type Context,
  directTarget,
  doorTarget,
  type Fixture,
  FOLDER,
  libpqArgs,
  libpqEnv,
  type PgTarget,
  type Workload,
} from "./_support/mod.ts";

const ROWS = 200_000;
const LIST = "extract";
const SAMPLE_MS = 20;
/** Debian's python3, which has python3-psycopg2 (a pyenv python on PATH may not). */
const PYTHON = "/usr/bin/python3";

/** One way of reading a query's whole result; returns the rows it got. */
interface Reader {
  name: string;
  read(target: PgTarget, query: string): Promise<number>;
}

const READERS: Reader[] = [
  {
    name: "psql select *",
    read: (target, query) => psqlRows(target, query),
  },
  {
    name: "psql COPY (select *) TO STDOUT",
    read: (target, query) => psqlRows(target, `copy (${query}) to stdout`),
  },
  {
    name: "psycopg2 fetchall",
    read: async (target, query) => {
      const script = [
        "import sys, psycopg2",
        "c = psycopg2.connect(host='127.0.0.1', port=int(sys.argv[1]), user=sys.argv[2],",
        "                     password=sys.argv[3], dbname=sys.argv[4])",
        "cur = c.cursor()",
        `cur.execute(${JSON.stringify(query)})`,
        "print(len(cur.fetchall()))",
      ].join("\n");
      const { code, stdout, stderr } = await new Deno.Command(PYTHON, {
        args: [
          "-c",
          script,
          String(target.port),
          target.user,
          target.password ?? "",
          target.database,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (code !== 0) throw new Error(`psycopg2: ${new TextDecoder().decode(stderr)}`);
      return Number(new TextDecoder().decode(stdout).trim());
    },
  },
];

/** Runs `command` with psql; returns the lines of its output (a row each). */
async function psqlRows(target: PgTarget, command: string): Promise<number> {
  const { code, stdout, stderr } = await new Deno.Command("psql", {
    args: [
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      ...libpqArgs(target),
      "-d",
      target.database,
      // Unaligned, tuples only: one line a row, counted by wc (C, like psql) on the way out.
      "-A",
      "-t",
      "-o",
      "|wc -l",
      "-c",
      command,
    ],
    env: libpqEnv(target),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`psql: ${new TextDecoder().decode(stderr)}`);
  return Number(new TextDecoder().decode(stdout).trim());
}

/** The list, made and filled by bulk SQL the first time; returns its physical table. */
async function extractList(fixture: Fixture): Promise<string> {
  const made = await createList(fixture.svc, fixture.admin, FOLDER, {
    name: LIST,
    key: "SampleKey",
    columns: [
      { name: "SampleKey", type: "Integer" },
      { name: "Label", type: "Text" },
      { name: "Reading", type: "Double" },
      { name: "Amount", type: "Decimal" },
      { name: "Taken", type: "DateTime" },
      { name: "Passed", type: "Boolean" },
    ],
  });
  const table = made.qualifiedTable;
  await sql.raw(
    `insert into ${table} (samplekey, label, reading, amount, taken, passed)
     select g, 'sample ' || g || ' ' || md5(g::text), g * 0.37, (g % 100000) / 100.0,
            timestamp '2026-01-01' + g * interval '1 minute', g % 3 = 0
       from generate_series(1, ${ROWS}) g`,
  ).execute(fixture.database.root);
  await sql.raw(`vacuum analyze ${table}`).execute(fixture.database.root);
  return table;
}

/** Highest resident memory of `pid` while `work` runs, sampled every SAMPLE_MS. */
async function peakRss<T>(rss: () => Promise<number>, work: () => Promise<T>) {
  let peak = await rss();
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, await rss().catch(() => 0));
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();
  try {
    return { result: await work(), peak: () => peak };
  } finally {
    running = false;
    await sampler;
  }
}

export const extractWorkload: Workload = {
  name: "extract",
  title: `Bulk extract: ${ROWS / 1000}k rows × 6 columns, door vs the physical table directly`,
  run: async (ctx: Context) => {
    const fixture = await ctx.fixture();
    const physical = await extractList(fixture);
    const direct = directTarget(fixture);
    const labgate = await ctx.labgate("extract");
    try {
      const door = doorTarget(labgate);
      for (const reader of READERS) {
        const seconds: Record<string, number[]> = { PostgreSQL: [], labgate: [] };
        for (let round = 0; round < ctx.rounds; round++) {
          for (const [target, table] of [[direct, physical], [door, `lists.${LIST}`]] as const) {
            const started = performance.now();
            const rows = await reader.read(target, `select * from ${table}`);
            if (rows !== ROWS) throw new Error(`${reader.name} read ${rows} rows of ${ROWS}`);
            seconds[target.name].push((performance.now() - started) / 1000);
          }
        }
        const rate = (name: string) => ROWS / median(seconds[name]);
        ctx.report.measure("extract", reader.name, {
          directRowsPerS: rate("PostgreSQL"),
          doorRowsPerS: rate("labgate"),
        });
        ctx.report.compare({
          workload: "extract",
          figure: `${reader.name}, rows/s`,
          value: `${Math.round(rate("labgate"))} rows/s`,
          against: `PostgreSQL: ${Math.round(rate("PostgreSQL"))} rows/s`,
          ratio: median(seconds.labgate.map((s, i) => seconds.PostgreSQL[i] / s)),
          target: { op: ">=", value: 0.95 },
        });
      }
    } finally {
      await ctx.stop("extract", labgate);
    }
    await memoryFlatness(ctx);
  },
};

/**
 * The door's memory growth reading the list once and five times over (a
 * cross join with generate_series), each on a labgate of its own (a
 * process's resident memory seldom shrinks, so the first read of each
 * process is the one that shows): a door that buffered results would grow
 * five times as much for the larger one.
 */
async function memoryFlatness(ctx: Context): Promise<void> {
  const reader = READERS[0];
  const growth: number[] = [];
  for (const times of [1, 5]) {
    const labgate = await ctx.labgate("extract");
    try {
      const before = await labgate.rssMiB();
      const { peak } = await peakRss(
        () => labgate.rssMiB(),
        () =>
          reader.read(
            doorTarget(labgate),
            `select e.* from lists.${LIST} e, generate_series(1, ${times}) g`,
          ),
      );
      growth.push(Math.max(0, peak() - before));
    } finally {
      await ctx.stop("extract", labgate);
    }
  }
  const [once, fiveTimes] = growth;
  ctx.report.measure("extract", "door memory growth", { onceMiB: once, fiveTimesMiB: fiveTimes });
  ctx.report.compare({
    workload: "extract",
    figure: `door memory growth, ${reader.name} of ${(ROWS * 5) / 1e6}M rows`,
    value: `${fiveTimes.toFixed(1)} MiB`,
    against: `${ROWS / 1000}k rows: ${once.toFixed(1)} MiB`,
    // 1 MiB of slack each side so that two near-zero readings do not make a ratio of noise.
    ratio: (fiveTimes + 1) / (once + 1),
    target: { op: "<=", value: 1.5 },
  });
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
