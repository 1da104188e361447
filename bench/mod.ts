/**
 * labgate's benchmark suite: one command, one table of ratios measured in one
 * run. Every workload runs labgate as deployed (main.ts in a subprocess) on a
 * scratch PostgreSQL database, loaded by pgbench and wrk.
 *
 *   deno task bench [sql] [connect] [http] [instances] [extract] [scale] [startup]
 *       [--seconds 10] [--rounds 5] [--connections 32] [--clients 1,16,64,256,500]
 *       [--mode extended|simple|prepared]
 *       [--door-threads <cores>]
 *       [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--profile]
 *
 * No workload names: all of them. The SQL workload splits each measurement into
 * --rounds runs taken in turn with the other targets, and compares the median of
 * the rounds' ratios, so a shared machine's changing speed weighs on all alike. `--mode prepared` fails through PgBouncer 1.18,
 * whose transaction pooling keeps no prepared statements. --profile runs labgate under V8's CPU
 * profiler and prints where its time went for each workload (bench/sql_steps.ts: a SQL-door
 * statement's CPU step by step, with perf). A `--postgres` URL with `?host=/var/run/postgresql` has labgate,
 * PgBouncer and the fixture reach PostgreSQL by its Unix socket, as on the database's own host;
 * pgbench's clients still connect by TCP, to PostgreSQL directly as to the door. Results also go
 * to bench/results/bench-<time>.json and .md. The soak test is bench/soak.ts.
 */
import { parseArgs } from "node:util";
import {
  type Context,
  createFixture,
  DEFAULT_SERVER,
  type Fixture,
  type Labgate,
  machine,
  met,
  type PgbenchOptions,
  Report,
  startLabgate,
  warmUp,
  type Workload,
} from "./_support/mod.ts";
import { connectWorkload } from "./connect.ts";
import { extractWorkload } from "./extract.ts";
import { httpWorkload } from "./http.ts";
import { instancesWorkload } from "./instances.ts";
import { scaleWorkload } from "./scale.ts";
import { sqlWorkload } from "./sql.ts";
import { startupWorkload } from "./startup.ts";

/** In run order: scale grows the database, so it comes after the workloads that share it. */
const WORKLOADS: Workload[] = [
  sqlWorkload,
  connectWorkload,
  httpWorkload,
  instancesWorkload,
  extractWorkload,
  scaleWorkload,
  startupWorkload,
];

async function requireTools(): Promise<void> {
  for (
    const [tool, args, pkg] of [["pgbench", "--version", "postgresql-client"], [
      "wrk",
      "-v",
      "wrk",
    ], ["pgbouncer", "--version", "pgbouncer"]]
  ) {
    const found = await new Deno.Command(tool, { args: [args], stdout: "null", stderr: "null" })
      .output().then(() => true, () => false);
    if (!found) throw new Error(`${tool} is missing: apt-get install ${pkg}`);
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      seconds: { type: "string", default: "10" },
      rounds: { type: "string", default: "5" },
      connections: { type: "string", default: "32" },
      clients: { type: "string", default: "1,16,64,256,500" },
      mode: { type: "string", default: "extended" },
      "door-threads": { type: "string", default: String(navigator.hardwareConcurrency) },
      postgres: { type: "string", default: DEFAULT_SERVER },
      profile: { type: "boolean", default: false },
    },
  });
  const unknown = positionals.filter((p) => !WORKLOADS.some((w) => w.name === p));
  if (unknown.length) {
    throw new Error(
      `unknown workload ${unknown.join(", ")}: choose from ${WORKLOADS.map((w) => w.name)}`,
    );
  }
  if (!["extended", "simple", "prepared"].includes(values.mode)) {
    throw new Error("--mode is extended, simple or prepared");
  }
  await requireTools();
  const selected = WORKLOADS.filter((w) => !positionals.length || positionals.includes(w.name));
  const report = new Report();
  const profileRoot = values.profile
    ? await Deno.makeTempDir({ prefix: "labgate-profile-" })
    : undefined;
  let fixture: Promise<Fixture> | undefined;
  const ctx: Context = {
    report,
    seconds: Number(values.seconds),
    rounds: Math.max(1, Number(values.rounds) || 1),
    connections: Number(values.connections),
    sqlClients: values.clients.split(",").map(Number),
    mode: values.mode as PgbenchOptions["mode"],
    server: values.postgres,
    fixture: () => {
      fixture ??= (async () => {
        const started = performance.now();
        const made = await createFixture(values.postgres);
        console.log(
          `  seeded ${made.url} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
        );
        return made;
      })();
      return fixture;
    },
    labgate: async (workload) => {
      const seeded = await ctx.fixture();
      const labgate = await startLabgate({
        DATABASE_URL: seeded.url,
        LABGATE_SQL_DOOR_THREADS: values["door-threads"],
      }, {
        profileDir: profileRoot
          ? await Deno.makeTempDir({ dir: profileRoot, prefix: workload })
          : undefined,
      });
      try {
        await warmUp(seeded, labgate);
      } catch (error) {
        await labgate.stop();
        throw error;
      }
      return labgate;
    },
    stop: async (workload: string, labgate: Labgate) => {
      const summary = await labgate.stop();
      if (summary.length) {
        report.note([`${workload}: labgate ${summary[0]}`, ...summary.slice(1)].join("\n"));
      }
    },
  };
  const about = await machine(values.postgres);
  console.log(
    `labgate bench ${report.started.toISOString()}: ${
      Object.entries(about).map(([k, v]) => `${k} ${v}`).join(", ")
    }; ${ctx.seconds} s per measurement (SQL: in ${ctx.rounds} rounds), ${ctx.connections} HTTP connections, pgbench -M ${ctx.mode}, ${
      values["door-threads"]
    } SQL door threads`,
  );
  try {
    for (const workload of selected) {
      console.log(`\n${workload.title}`);
      try {
        await workload.run(ctx);
      } catch (error) {
        // One workload's failure (say, a server out of connections) leaves the others' figures.
        report.note(`${workload.name} failed: ${(error as Error).message}`);
        report.failed.push(workload.name);
      }
    }
  } finally {
    if (fixture) await (await fixture).dispose();
    if (profileRoot) await Deno.remove(profileRoot, { recursive: true });
  }
  console.log(`\n${report.table()}`);
  const path = await report.write("bench", {
    ...about,
    seconds: ctx.seconds,
    rounds: ctx.rounds,
    mode: ctx.mode,
  });
  console.log(`\nwritten to ${path}`);
  const missed = report.comparisons.filter((c) => met(c) === false).length;
  if (missed) console.log(`${missed} target(s) missed`);
  if (report.failed.length) {
    console.log(`failed: ${report.failed.join(", ")}`);
    Deno.exitCode = 1;
  }
}

if (import.meta.main) await main();
