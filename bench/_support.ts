/**
 * What the benchmark workloads share: the seeded PostgreSQL database, labgate
 * as a subprocess (main.ts, as deployed), the load generators (pgbench and wrk
 * from Debian: C programs that leave the CPU to the server), PgBouncer, memory
 * readings, CPU-profile summaries and the results table.
 */
import pg from "pg";
import { sql } from "kysely";
import type { Actor } from "../src/core/actor.ts";
import { actorFor } from "../src/core/actor.ts";
import { createSession } from "../src/data/sessions.ts";
import { bootstrapAdmin } from "../src/app/bootstrap.ts";
import { loadConfig } from "../src/config.ts";
import { createContainer, setPolicy } from "../src/data/containers.ts";
import { createList } from "../src/data/lists.ts";
import { createUser, getUserByEmail } from "../src/data/users.ts";
import type { Database } from "../src/db/mod.ts";
import { createApiKey } from "../src/doors/keys/mod.ts";
import { keySettings } from "../src/doors/keys/settings.ts";
import { createToken as createRemoteToken } from "../src/doors/remote_login/mod.ts";
import { remoteLoginSettings } from "../src/doors/remote_login/settings.ts";
import { createServices, type Services } from "../src/services.ts";
import { sqlDoorSettings } from "../src/doors/sql/settings.ts";
import { createExternalApp, createToken } from "../src/doors/tokens/mod.ts";
import { scratchPostgresDatabase } from "../src/db/scratch.ts";

/** Where a scratch database may be created (the user needs CREATEDB and CREATEROLE). */
export const DEFAULT_SERVER = Deno.env.get("BENCH_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";
const ADMIN = { email: "admin@bench.example", password: "bench-admin-password" };
const READER = { email: "reader@bench.example", password: "reader-pass-1" };
export const FOLDER = "/home/bench";
/** Rows of `lists.accounts`, the primary-key select's table. */
const ACCOUNTS = 100_000;
/** Rows of `lists.samples`, the list the HTTP query API reads 100 rows of. */
const SAMPLES = 1000;
const MAIN_TS = new URL("../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

// ---------------------------------------------------------------- results

export interface Figures {
  /** Requests (or transactions, or connections) per second. */
  rate: number;
  /** How many were done. */
  count: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** The load generator's own words when something went wrong. */
  detail?: string;
}

/** One row of the summary: a figure, what it is compared with, and the target. */
export interface Comparison {
  workload: string;
  figure: string;
  value: string;
  against: string;
  ratio: number;
  /** e.g. ">= 0.8"; absent when the issue sets none (the ratio is reported only). */
  target?: { op: ">=" | "<="; value: number };
}

export class Report {
  readonly started = new Date();
  readonly measurements: ({ workload: string; name: string } & Record<string, unknown>)[] = [];
  readonly comparisons: Comparison[] = [];
  readonly notes: string[] = [];
  /** Workloads that stopped with an error. */
  readonly failed: string[] = [];

  /** Records and prints one raw measurement as soon as it is taken. */
  measure(workload: string, name: string, figures: Record<string, unknown>): void {
    this.measurements.push({ workload, name, ...figures });
    const text = Object.entries(figures).map(([k, v]) =>
      `${k}=${typeof v === "number" ? round(v) : v}`
    ).join(" ");
    console.log(`  ${workload}: ${name}: ${text}`);
  }

  compare(comparison: Comparison): void {
    this.comparisons.push(comparison);
  }

  note(text: string): void {
    this.notes.push(text);
    console.log(text);
  }

  /** The summary as a Markdown table (printed and written to bench/results/). */
  table(): string {
    const rows = this.comparisons.map((c) => [
      c.workload,
      c.figure,
      c.value,
      c.against,
      `${c.ratio.toFixed(2)}×`,
      c.target ? `${c.target.op} ${c.target.value}` : "—",
      met(c) === undefined ? "report" : met(c) ? "met" : "MISSED",
    ]);
    const header = ["workload", "figure", "value", "compared with", "ratio", "target", ""];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
      `| ${
        cells.map((cell, i) => i >= 4 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])).join(
          " | ",
        )
      } |`;
    return [
      line(header),
      `|${widths.map((w, i) => "-".repeat(w + 1) + (i >= 4 ? ":" : "-")).join("|")}|`,
      ...rows.map(line),
    ].join("\n");
  }

  /** Writes bench/results/<kind>-<time>.json and .md; returns the Markdown path. */
  async write(kind: string, machine: Record<string, unknown>): Promise<string> {
    const dir = new URL("./results/", import.meta.url).pathname;
    await Deno.mkdir(dir, { recursive: true });
    const stem = `${dir}${kind}-${this.started.toISOString().replaceAll(":", "-").slice(0, 19)}`;
    await Deno.writeTextFile(
      `${stem}.json`,
      JSON.stringify(
        {
          started: this.started,
          machine,
          measurements: this.measurements,
          comparisons: this.comparisons.map((c) => ({ ...c, met: met(c) })),
          notes: this.notes,
        },
        null,
        2,
      ),
    );
    const header = Object.entries(machine).map(([k, v]) => `${k}: ${v}`).join(", ");
    await Deno.writeTextFile(
      `${stem}.md`,
      [
        `${this.started.toISOString()} — ${header}`,
        this.table(),
        "Measurements:\n\n" +
        this.measurements.map(({ workload, name, ...figures }) =>
          `- ${workload}: ${name}: ${
            Object.entries(figures).map(([k, v]) => `${k}=${typeof v === "number" ? round(v) : v}`)
              .join(" ")
          }`
        ).join("\n"),
        ...this.notes.map((note) => "```\n" + note + "\n```"),
      ].join("\n\n") + "\n",
    );
    return `${stem}.md`;
  }
}

export function met(c: Comparison): boolean | undefined {
  if (!c.target) return undefined;
  return c.target.op === ">=" ? c.ratio >= c.target.value : c.ratio <= c.target.value;
}

export function round(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2);
}

/** "12345 tps, p50 1.20 ms, p99 3.40 ms" */
export function describe(f: Figures, unit: string): string {
  return `${round(f.rate)} ${unit}, p50 ${round(f.p50Ms)} ms, p99 ${round(f.p99Ms)} ms`;
}

/** Cores, CPU, OS, Deno and PostgreSQL versions: the header of every result. */
export async function machine(server: string): Promise<Record<string, unknown>> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/model name\s*:\s*(.*)/)?.[1];
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  const { rows } = await client.query("show server_version");
  await client.end();
  return {
    cores: navigator.hardwareConcurrency,
    cpu: cpu ?? "unknown",
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    postgresql: rows[0].server_version,
  };
}

// ---------------------------------------------------------------- the seeded database

export interface Fixture {
  server: string;
  url: string;
  database: Database;
  svc: Services;
  /** Physical table of lists.accounts (aid, abalance, filler) in /home/bench. */
  accountsTable: string;
  /** Physical table of lists.samples (Id, Name, Weight) and its key column. */
  samplesTable: string;
  samplesKey: string;
  /** The reader's API key (HTTP Basic `apikey:` and SQL door user `apikey`). */
  apiKey: string;
  /** An active auth token of app `bench-app`, whose app user reads /home/bench. */
  token: string;
  /** A remote-login token of the reader's browser session. */
  remoteToken: string;
  dispose(): Promise<void>;
}

/**
 * A fresh database on `server` with a folder /home/bench that a Reader and an
 * external app user may read, lists `accounts` (100k rows) and `samples` (1000
 * rows) filled by bulk SQL, and the reader's key, the app's token and a
 * remote-login token. Settings are raised so the load itself is never refused.
 */
export async function createFixture(server: string): Promise<Fixture> {
  const { database, url, dispose } = await scratchPostgresDatabase(server, {
    prefix: "lg_bench",
    // Few sessions: PostgreSQL's max_connections is shared with labgate's pools and pgbench.
    poolSize: 4,
  });
  const config = loadConfig({
    LABGATE_ADMIN_EMAIL: ADMIN.email,
    LABGATE_ADMIN_PASSWORD: ADMIN.password,
    LABGATE_LOG_REQUESTS: "false",
  });
  const svc = createServices(config, database);
  try {
    await bootstrapAdmin(svc, () => {});
    const adminUser = (await getUserByEmail(svc, ADMIN.email))!;
    const admin = browserActor(
      adminUser,
      (await createSession(svc, { userId: adminUser.id })).session,
    );
    await svc.settings.set(keySettings, {
      apiKeys: true,
      apiKeyExpiries: ["1w", "never"],
      sessionKeys: true,
    });
    await svc.settings.set(remoteLoginSettings, {
      ...await svc.settings.get(remoteLoginSettings),
      verifyPerMinute: 1_000_000,
    });
    await svc.settings.set(sqlDoorSettings, {
      ...sqlDoorSettings.defaults,
      // The soak holds 500 connections of one user; the defaults cap at 500 and 50 a user.
      maxConnections: 2000,
      maxConnectionsPerUser: 2000,
      // API-key logins without TLS on loopback, so connection rates do not measure TLS.
      allowLoopbackCleartext: true,
    });
    await createExternalApp(svc, admin, {
      id: "bench-app",
      description: "Benchmark app",
      entryPoints: ["rest"],
      defaultExpiryDays: 30,
    });
    const appUser = await createUser(svc, admin, {
      email: "app@bench.example",
      userType: "app",
      externalAppId: "bench-app",
      password: "bench-app-password",
    });
    const reader = await createUser(svc, admin, READER);
    await createContainer(svc, admin, { parentPath: "/home", name: "bench", inheritPolicy: false });
    await setPolicy(svc, admin, FOLDER, {
      inherit: false,
      assignments: [
        { principalId: reader.id, role: "reader" },
        { principalId: appUser.id, role: "reader" },
      ],
    });
    const accounts = await createList(svc, admin, FOLDER, {
      name: "accounts",
      key: "aid",
      columns: [
        { name: "aid", type: "Integer" },
        { name: "abalance", type: "Integer" },
        { name: "filler", type: "Text" },
      ],
    });
    const samples = await createList(svc, admin, FOLDER, {
      name: "samples",
      key: "Id",
      autoKey: true,
      columns: [{ name: "Name", type: "Text" }, { name: "Weight", type: "Double" }],
    });
    // Physical column names are the lower-cased list column names.
    await sql.raw(
      `insert into ${accounts.qualifiedTable} (aid, abalance, filler)
       select g, g % 1000, md5(g::text) from generate_series(1, ${ACCOUNTS}) g`,
    ).execute(database.root);
    await sql.raw(
      `insert into ${samples.qualifiedTable} (name, weight)
       select 'sample ' || g, g / 10.0 from generate_series(1, ${SAMPLES}) g`,
    ).execute(database.root);
    await sql.raw(`analyze ${accounts.qualifiedTable}`).execute(database.root);
    await sql.raw(`analyze ${samples.qualifiedTable}`).execute(database.root);

    const readerSession = (await createSession(svc, { userId: reader.id })).session;
    const readerActor = browserActor(reader, readerSession);
    const { key } = await createApiKey(svc, readerActor, { expiry: "never", description: "bench" });
    const { value: token } = await createToken(svc, admin, {
      appId: "bench-app",
      appUserId: appUser.id,
    });
    const remoteToken = await createRemoteToken(svc, readerActor, new URL("http://127.0.0.1/"));
    await svc.audit.flush();
    return {
      server,
      url,
      database,
      svc,
      accountsTable: accounts.qualifiedTable,
      samplesTable: samples.qualifiedTable,
      samplesKey: samples.list.key_column,
      apiKey: key,
      token,
      remoteToken,
      dispose: async () => {
        await svc.audit.flush();
        await dispose();
      },
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

function browserActor(
  user: Parameters<typeof actorFor>[0],
  session: { id: string; csrf_token: string },
): Actor {
  return {
    ...actorFor(user, {
      credential: { kind: "session", id: session.id },
      compliance: null,
      impersonatorId: null,
      door: "web",
      clientAddr: "127.0.0.1",
    }),
    session: { id: session.id, csrfToken: session.csrf_token },
  };
}

// ---------------------------------------------------------------- labgate subprocess

export interface Labgate {
  /** http://127.0.0.1:<port> */
  base: string;
  sqlPort: number;
  pid: number;
  /** Resident set size now, in MiB. */
  rssMiB(): Promise<number>;
  /** Stops it (SIGTERM); with a CPU profile, returns its summary lines. */
  stop(): Promise<string[]>;
}

/**
 * Starts `deno run main.ts` on loopback with free ports. `env` names the
 * database (DATABASE_URL, or LABGATE_DATA_DIR for the embedded one);
 * `profileDir` turns on V8's CPU profiler, summarised at stop().
 */
export async function startLabgate(
  env: Record<string, string>,
  options: { profileDir?: string } = {},
): Promise<Labgate> {
  const args = ["run", "-A"];
  if (options.profileDir) args.push("--cpu-prof", `--cpu-prof-dir=${options.profileDir}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args, MAIN_TS],
    env: {
      DATABASE_URL: "",
      PORT: "0",
      LABGATE_SQL_DOOR_PORT: "0",
      LABGATE_HOSTNAME: "127.0.0.1",
      LABGATE_LOG_REQUESTS: "false",
      LABGATE_ADMIN_EMAIL: ADMIN.email,
      LABGATE_ADMIN_PASSWORD: ADMIN.password,
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  let http: string | undefined;
  let sqlPort: number | undefined;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 120_000);
  while (!http || !sqlPort) {
    const { value, done } = await lines.read();
    if (done) {
      clearTimeout(deadline);
      throw new Error(`labgate did not start:\n${output}\n${await stderr}`);
    }
    output += value;
    http ??= output.match(/labgate: (http:\/\/[\d.]+:\d+)/)?.[1];
    sqlPort ??= Number(output.match(/SQL door listening on [\d.]+:(\d+)/)?.[1]) || undefined;
  }
  clearTimeout(deadline);
  // Keep reading so a full pipe never blocks it.
  void (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })().catch(() => {});
  return {
    base: http,
    sqlPort,
    pid: child.pid,
    rssMiB: () => rssMiB(child.pid),
    stop: async () => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await child.status;
      clearTimeout(timer);
      await stderr;
      return options.profileDir ? await profileSummary(options.profileDir) : [];
    },
  };
}

/** CPU seconds (user + system) a process has used; 0 once it is gone. */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS = 100;

/**
 * Runs `load` and returns its figures with the CPU it cost per request: the
 * server process `pid` plus the PostgreSQL backends serving the fixture's
 * database (they must outlive the run: pools, not per-client backends). Unlike
 * throughput this hardly moves when other programs share the machine.
 */
export async function withCpuCost(
  fixture: Fixture,
  pid: number,
  load: () => Promise<Figures>,
): Promise<Figures & { cpuUsPerRequest: number }> {
  const backends = async () =>
    (await sql<{ pid: number }>`select pid from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()`.execute(
      fixture.database.root,
    )).rows.map((r) => r.pid);
  const before = new Map<number, number>();
  for (const p of [pid, ...await backends()]) before.set(p, await cpuSeconds(p));
  const figures = await load();
  let used = 0;
  for (const p of new Set([...before.keys(), ...await backends()])) {
    const after = await cpuSeconds(p);
    if (after > 0) used += after - (before.get(p) ?? 0); // a backend that left is not counted
  }
  return { ...figures, cpuUsPerRequest: used * 1e6 / figures.count };
}

export async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1]) / 1024;
}

/** Waits until `url` answers 200; returns the milliseconds waited. */
export async function firstAnswer(url: string, timeoutMs = 60_000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return performance.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

// ---------------------------------------------------------------- CPU profiles

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

/** Where the samples of the V8 CPU profiles in `dir` fell: by area, then the top functions. */
async function profileSummary(dir: string): Promise<string[]> {
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".cpuprofile")) continue;
    const profile = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as {
      nodes: ProfileNode[];
      samples: number[];
    };
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    for (const id of profile.samples) {
      const frame = nodes.get(id)!.callFrame;
      const area = areaOf(frame.url, frame.functionName);
      if (area === "idle") continue;
      total++;
      byArea.set(area, (byArea.get(area) ?? 0) + 1);
      const name = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}`.trim();
      byFunction.set(name, (byFunction.get(name) ?? 0) + 1);
    }
  }
  if (total === 0) return [];
  const top = (map: Map<string, number>, n: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n)
      .map(([name, count]) => `${(100 * count / total).toFixed(1).padStart(5)} %  ${name}`);
  return [
    `CPU profile (${total} busy samples): by area`,
    ...top(byArea, 8),
    "top functions (self time)",
    ...top(byFunction, 8),
  ];
}

function areaOf(url: string, functionName: string): string {
  if (functionName === "(idle)") return "idle";
  if (!url) {
    // Native code: the runtime's socket ops and Web Crypto, else V8's own entries.
    if (/^(op_(write|read|net)|writev|readv)/.test(functionName)) return "socket I/O (native)";
    if (functionName === "digest") return "Web Crypto digest (native)";
    return functionName || "(native)"; // (program), (garbage collector)
  }
  if (url.includes("/pg/") || url.includes("/pg-protocol/") || url.includes("/pg-pool/")) {
    return "npm pg driver";
  }
  if (url.includes("/hono/") || url.includes("/@hono/")) return "npm hono";
  if (url.includes("/kysely/")) return "npm kysely";
  if (url.includes("/zod/")) return "npm zod";
  if (url.includes("libpg-query")) return "npm libpg-query";
  if (url.startsWith("node:") || url.includes("ext:deno_node") || url.includes("ext:node")) {
    return "Deno Node-compat layer";
  }
  if (url.startsWith("ext:")) return "Deno runtime";
  const local = url.match(/\/(src\/[^/]+|routes|wire)\//)?.[1];
  if (local) return `labgate ${local}`;
  return shortUrl(url);
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/(src|routes|wire|node_modules)\//, "$1/")
    .replace(/^.*\/node_modules\/\.deno\//, "npm:");
}

// ---------------------------------------------------------------- pgbench

export interface PgTarget {
  name: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export interface PgbenchOptions {
  clients: number;
  seconds: number;
  /** Protocol: extended (Parse/Bind/Execute each time, what PgBouncer's transaction mode allows). */
  mode: "simple" | "extended" | "prepared";
  /** A new connection for every transaction (-C). */
  reconnect?: boolean;
  /** Total transactions per second to aim at (-R); unthrottled when absent. */
  rate?: number;
}

/**
 * pgbench running `script` for a fixed time; latencies from its per-transaction
 * log. A run that found PostgreSQL out of connections (max_connections is
 * shared with everything else on the server) is tried again, twice at most.
 */
export async function pgbench(
  target: PgTarget,
  script: string,
  options: PgbenchOptions,
): Promise<Figures> {
  for (let attempt = 1;; attempt++) {
    try {
      return await pgbenchOnce(target, script, options);
    } catch (error) {
      if (attempt === 3 || !/too many clients/.test((error as Error).message)) throw error;
      console.log(`  ${target.name}: PostgreSQL has no free connection, trying again in 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }
}

async function pgbenchOnce(
  target: PgTarget,
  script: string,
  options: PgbenchOptions,
): Promise<Figures> {
  const dir = await Deno.makeTempDir({ prefix: "labgate-bench-" });
  try {
    await Deno.writeTextFile(`${dir}/script.sql`, script);
    const args = [
      "-n",
      "-f",
      `${dir}/script.sql`,
      "-c",
      String(options.clients),
      "-j",
      String(Math.min(2, options.clients)),
      "-T",
      String(options.seconds),
      "-M",
      options.mode,
      "-h",
      "127.0.0.1",
      "-p",
      String(target.port),
      "-U",
      target.user,
    ];
    if (options.reconnect) args.push("-C");
    if (options.rate) args.push("-R", String(options.rate));
    else args.push("-l", `--log-prefix=${dir}/log`);
    const out = await new Deno.Command("pgbench", {
      args: [...args, target.database],
      env: { PGPASSWORD: target.password ?? "", PGSSLMODE: "disable", PGCONNECT_TIMEOUT: "30" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = decoder.decode(out.stdout);
    const stderr = decoder.decode(out.stderr);
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    if (!out.success && !options.rate) {
      throw new Error(`pgbench against ${target.name} failed:\n${stdout}\n${stderr.slice(-2000)}`);
    }
    let p50Ms: number, p99Ms: number;
    if (options.rate) {
      // Throttled runs report their mean latency only; the soak needs no percentiles.
      p50Ms = p99Ms = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1] ?? NaN);
    } else {
      const latencies: number[] = [];
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.name.startsWith("log")) continue;
        for (const line of (await Deno.readTextFile(`${dir}/${entry.name}`)).split("\n")) {
          const us = Number(line.split(" ")[2]);
          if (line && Number.isFinite(us)) latencies.push(us / 1000);
        }
      }
      [p50Ms, p99Ms] = percentiles(latencies, [0.5, 0.99]);
    }
    const errors = failed + (out.success && Number.isFinite(tps) ? 0 : 1) +
      (stderr.match(/^pgbench: error:/gm)?.length ?? 0);
    return {
      rate: tps,
      count: Number(/actually processed: (\d+)/.exec(stdout)?.[1] ?? NaN),
      p50Ms,
      p99Ms,
      errors,
      detail: errors ? `${stdout.slice(-1000)}\n${stderr.slice(-1000)}` : undefined,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function percentiles(values: number[], qs: number[]): number[] {
  const sorted = values.sort((a, b) => a - b);
  return qs.map((q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
}

/** The pgbench script of the primary-key select on `table`. */
export function pkSelectScript(table: string): string {
  return `\\set aid random(1, ${ACCOUNTS})\nselect abalance from ${table} where aid = :aid;\n`;
}

/** PgBouncer in transaction mode in front of the fixture's database, on a free port. */
export async function startPgbouncer(
  fixture: Fixture,
  poolSize: number,
): Promise<{ target: PgTarget; stop(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "labgate-pgbouncer-" });
  // PgBouncer refuses to run as root; it then runs as postgres and must read the directory.
  await Deno.chmod(dir, 0o755);
  const url = new URL(fixture.url);
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/pgbouncer.ini`,
    `[databases]
bench = host=${url.hostname} port=${url.port || 5432} dbname=${url.pathname.slice(1)} user=${
      decodeURIComponent(url.username) || "postgres"
    }${url.password ? ` password=${decodeURIComponent(url.password)}` : ""}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = ${poolSize}
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits
logfile =
`,
  );
  const child = new Deno.Command("pgbouncer", {
    args: [...(Deno.uid() === 0 ? ["-u", "postgres"] : []), `${dir}/pgbouncer.ini`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (i === 200) {
        child.kill("SIGKILL");
        throw new Error(`PgBouncer did not start: ${await stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    target: { name: "PgBouncer", port, user: "postgres", database: "bench" },
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await stderr;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A port nobody listens on now (PgBouncer cannot report the port it picked for 0). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The fixture's database as PostgreSQL itself serves it. */
export function directTarget(fixture: Fixture): PgTarget {
  const url = new URL(fixture.url);
  return {
    name: "PostgreSQL",
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username) || "postgres",
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
  };
}

/** labgate's SQL door, signed in as the reader (SCRAM) on /home/bench. */
export function doorTarget(labgate: Labgate): PgTarget {
  return {
    name: "labgate",
    port: labgate.sqlPort,
    user: READER.email,
    password: READER.password,
    database: FOLDER,
  };
}

// ---------------------------------------------------------------- wrk

export interface HttpTarget {
  name: string;
  /** Path and query, requested on every base URL given to wrk(). */
  path: string;
  headers: Record<string, string>;
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  /** Base URLs spread over wrk's threads (a round-robin over instances); one is the usual. */
  bases: string[];
  /** Several targets are requested in turn (the soak's mix). */
  targets: HttpTarget[];
  /** Each connection waits this long between requests (holding load instead of maximum load). */
  delayMs?: number;
}

/** wrk with a generated Lua script: headers, per-thread instance, request mix and pacing. */
export async function wrk(options: WrkOptions): Promise<Figures> {
  const dir = await Deno.makeTempDir({ prefix: "labgate-wrk-" });
  try {
    const bases = options.bases.map((b) => new URL(b));
    const threads = Math.max(2, bases.length);
    const lua = [
      `local hosts = {${bases.map((b) => `{${JSON.stringify(b.hostname)}, "${b.port}"}`)}}`,
      "local n = 0",
      // wrk runs setup() once per thread before it starts: thread i talks to instance i mod N.
      "function setup(thread)",
      "  n = n + 1",
      "  local h = hosts[(n - 1) % #hosts + 1]",
      "  thread.addr = wrk.lookup(h[1], h[2])[1]",
      "end",
      "local requests = {}",
      "local turn = 0",
      "function init(args)",
      ...options.targets.map((t) =>
        `  table.insert(requests, wrk.format("GET", ${JSON.stringify(t.path)}, {${
          Object.entries(t.headers).map(([k, v]) => `[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
            .join(", ")
        }}))`
      ),
      "end",
      "function request()",
      "  turn = turn % #requests + 1",
      "  return requests[turn]",
      "end",
      ...(options.delayMs ? [`function delay() return ${options.delayMs} end`] : []),
    ].join("\n");
    await Deno.writeTextFile(`${dir}/bench.lua`, lua);
    const out = await new Deno.Command("wrk", {
      args: [
        `-t${threads}`,
        `-c${Math.max(threads, options.connections)}`,
        `-d${options.seconds}s`,
        "--timeout",
        "10s",
        "--latency",
        "-s",
        `${dir}/bench.lua`,
        options.bases[0],
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = decoder.decode(out.stdout);
    if (!out.success) throw new Error(`wrk failed: ${decoder.decode(out.stderr)}`);
    const ms = (label: string) => {
      const match = text.match(new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, "m"));
      if (!match) return NaN;
      return Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as "us" | "ms" | "s"];
    };
    const socket = text.match(
      /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
    );
    const errors = Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0) +
      (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
    return {
      rate: Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN),
      count: Number(text.match(/(\d+) requests in/)?.[1] ?? NaN),
      p50Ms: ms("50"),
      p99Ms: ms("99"),
      errors,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A few seconds of every kind of request, unrecorded, so measurements see a
 * warm JIT, pools and caches rather than the first seconds of a new process.
 */
export async function warmUp(fixture: Fixture, labgate: Labgate): Promise<void> {
  const targets = labgateTargets(fixture);
  for (const target of targets) await checkHttp(labgate.base, target);
  await Promise.all([
    wrk({ bases: [labgate.base], targets, connections: 8, seconds: 3 }),
    pgbench(doorTarget(labgate), pkSelectScript("lists.accounts"), {
      clients: 4,
      seconds: 3,
      mode: "extended",
    }),
  ]);
}

/** Fails loudly when a target does not answer 200 before it is measured. */
export async function checkHttp(base: string, target: HttpTarget): Promise<void> {
  const response = await fetch(base + target.path, { headers: target.headers });
  const body = await response.text();
  if (!response.ok || body.includes('success="false"')) {
    throw new Error(`${target.name}: ${response.status} ${body.slice(0, 300)}`);
  }
}

/** The three labgate endpoints the HTTP workloads measure, with the fixture's credentials. */
export function labgateTargets(fixture: Fixture): HttpTarget[] {
  const selectRows =
    `${FOLDER}/query-selectRows.api?schemaName=lists&query.queryName=samples&query.maxRows=100`;
  return [
    {
      name: "selectRows, API key",
      path: selectRows,
      headers: { Authorization: `Basic ${btoa(`apikey:${fixture.apiKey}`)}` },
    },
    {
      name: "selectRows, token",
      path: selectRows,
      headers: { Authorization: `Token ${fixture.token}` },
    },
    {
      name: "verifyToken.view",
      path: `/login${FOLDER}/verifyToken.view?labkeyToken=${fixture.remoteToken}`,
      headers: {},
    },
  ];
}

// ---------------------------------------------------------------- the runner's context

/** What bench/mod.ts hands every workload. */
export interface Context {
  report: Report;
  /** Seconds per measurement. */
  seconds: number;
  /** The SQL workload takes each measurement in this many rounds, the targets in turn. */
  rounds: number;
  /** pgbench client counts of the SQL workload. */
  sqlClients: number[];
  /** wrk connections for the HTTP workloads. */
  connections: number;
  mode: PgbenchOptions["mode"];
  server: string;
  /** The seeded database, made on first use and shared by the workloads of a run. */
  fixture(): Promise<Fixture>;
  /** labgate on the fixture's database; with --profile its CPU profile is printed at stop. */
  labgate(workload: string): Promise<Labgate>;
  /** Stops `labgate` and records its profile summary (when profiling) under `workload`. */
  stop(workload: string, labgate: Labgate): Promise<void>;
}

export interface Workload {
  name: string;
  title: string;
  run(ctx: Context): Promise<void>;
}
