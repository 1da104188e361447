/**
 * Soak: labgate (main.ts in a subprocess, loopback only, scratch PostgreSQL
 * database) holds 500 concurrent SQL-door connections (pgbench, primary-key
 * selects at a steady total rate) and 200 concurrent HTTP clients (wrk,
 * selectRows with a key and with a token and verifyToken.view in turn, each
 * client pausing between requests) for a bounded time, sampling labgate's
 * resident memory. Exits non-zero on any error or when memory at the end
 * exceeds memory after the warm-up (the first quarter) by more than
 * --max-growth.
 *
 *   deno task soak [--seconds 120] [--sql-clients 500] [--sql-rate 500]
 *       [--http-clients 200] [--http-delay-ms 100] [--max-growth 1.3] [--postgres URL]
 */
import { parseArgs } from "node:util";
import {
  createFixture,
  DEFAULT_SERVER,
  doorTarget,
  labgateTargets,
  machine,
  met,
  pgbench,
  pkSelectScript,
  Report,
  startLabgate,
  wrk,
} from "./_support/mod.ts";

/** Memory is sampled this often; the first sample that counts comes after the warm-up. */
const SAMPLE_MS = 2000;
const WARM_UP = 0.25;

/** Waits until `count` connections to `port` are established (or `seconds` pass); returns how many. */
async function openConnections(port: number, count: number, seconds: number): Promise<number> {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    // Server-side sockets: local port is the door's, state 01 is ESTABLISHED.
    const open = (await Deno.readTextFile("/proc/net/tcp")).split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter(([, address, , state]) => address?.endsWith(local) && state === "01").length;
    if (open >= count || performance.now() > deadline) return open;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "120" },
      "sql-clients": { type: "string", default: "500" },
      "sql-rate": { type: "string", default: "500" },
      "http-clients": { type: "string", default: "200" },
      "http-delay-ms": { type: "string", default: "100" },
      "max-growth": { type: "string", default: "1.3" },
      postgres: { type: "string", default: DEFAULT_SERVER },
    },
  });
  const seconds = Number(values.seconds);
  const sqlClients = Number(values["sql-clients"]);
  const httpClients = Number(values["http-clients"]);
  const maxGrowth = Number(values["max-growth"]);
  const report = new Report();
  const about = await machine(values.postgres);
  console.log(
    `labgate soak ${report.started.toISOString()}: ${seconds} s, ${sqlClients} SQL-door ` +
      `connections at ${values["sql-rate"]} tx/s in all, ${httpClients} HTTP clients pausing ` +
      `${values["http-delay-ms"]} ms; ${about.cores} cores`,
  );
  const fixture = await createFixture(values.postgres);
  const labgate = await startLabgate({ DATABASE_URL: fixture.url }).catch(async (error) => {
    await fixture.dispose();
    throw error;
  });
  const idle = await labgate.rssMiB();
  const samples: { at: number; rss: number }[] = [];
  const started = performance.now();
  const timer = setInterval(async () => {
    samples.push({ at: (performance.now() - started) / 1000, rss: await labgate.rssMiB() });
  }, SAMPLE_MS);
  let failed = true;
  try {
    const sqlRun = pgbench(doorTarget(labgate), pkSelectScript("lists.accounts"), {
      clients: sqlClients,
      seconds,
      mode: "extended",
      rate: Number(values["sql-rate"]),
    });
    // HTTP starts once every SQL-door connection is open (500 sign-ins take a while on a
    // loaded machine) and holds until the end.
    const opened = await openConnections(labgate.sqlPort, sqlClients, seconds / 2);
    const elapsed = (performance.now() - started) / 1000;
    console.log(`  ${opened} SQL-door connections open after ${elapsed.toFixed(1)} s`);
    if (opened < sqlClients) {
      report.note(`only ${opened} of ${sqlClients} SQL-door connections opened`);
    }
    const httpFigures = await wrk({
      bases: [labgate.base],
      targets: labgateTargets(fixture),
      connections: httpClients,
      seconds: Math.max(1, Math.round(seconds - elapsed)),
      delayMs: Number(values["http-delay-ms"]),
    });
    const sqlFigures = await sqlRun;
    if (opened < sqlClients) sqlFigures.errors += sqlClients - opened;
    clearInterval(timer);
    report.measure("soak", `SQL door, ${sqlClients} connections`, {
      tps: sqlFigures.rate,
      meanLatencyMs: sqlFigures.p50Ms,
      errors: sqlFigures.errors,
    });
    report.measure("soak", `HTTP, ${httpClients} clients`, {
      rps: httpFigures.rate,
      p50Ms: httpFigures.p50Ms,
      p99Ms: httpFigures.p99Ms,
      errors: httpFigures.errors,
    });
    for (const f of [sqlFigures, httpFigures]) if (f.detail) report.note(f.detail);
    // Baseline after the warm-up: connections are open and the JIT and pools have settled.
    const counted = samples.filter((s) => s.at >= seconds * WARM_UP);
    const [start, mid, end] = [counted[0], counted[counted.length >> 1], counted.at(-1)!];
    report.measure("soak", "labgate RSS MiB", {
      idle: idle,
      afterWarmUp: start.rss,
      mid: mid.rss,
      end: end.rss,
      peak: Math.max(...counted.map((s) => s.rss)),
    });
    const errors = sqlFigures.errors + httpFigures.errors;
    report.compare({
      workload: "soak",
      figure: "labgate RSS at the end",
      value: `${end.rss.toFixed(0)} MiB at ${end.at.toFixed(0)} s (mid ${mid.rss.toFixed(0)})`,
      against: `after warm-up: ${start.rss.toFixed(0)} MiB at ${start.at.toFixed(0)} s`,
      ratio: end.rss / start.rss,
      target: { op: "<=", value: maxGrowth },
    });
    console.log(
      `\n${report.table()}\nerrors: ${errors} (SQL ${sqlFigures.errors}, HTTP ${httpFigures.errors})`,
    );
    console.log(`written to ${await report.write("soak", { ...about, seconds })}`);
    failed = errors > 0 || report.comparisons.some((c) => met(c) === false);
  } finally {
    clearInterval(timer);
    await labgate.stop();
    await fixture.dispose();
  }
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
