/** labgate as deployed (main.ts in a subprocess): start, stop, CPU and memory readings, CPU-profile summaries. */
import { sql } from "kysely";
import { ADMIN, type Fixture } from "./fixture.ts";
import type { Figures } from "./report.ts";

const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;

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
  const deadline = setTimeout(() => signal(child, "SIGKILL"), 120_000);
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
  const labgate: Labgate = {
    base: http,
    sqlPort,
    pid: child.pid,
    rssMiB: () => rssMiB(child.pid),
    stop: async () => {
      // It may have ended already (say, PostgreSQL refused its connections): then there is nothing to stop.
      signal(child, "SIGTERM");
      const timer = setTimeout(() => signal(child, "SIGKILL"), 15_000);
      await child.status;
      clearTimeout(timer);
      await stderr;
      return options.profileDir ? await profileSummary(options.profileDir) : [];
    },
  };
  return labgate;
}

/** CPU seconds (user + system) a process has used; 0 once it is gone. */
export async function cpuSeconds(pid: number): Promise<number> {
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

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // already exited
  }
}

async function rssMiB(pid: number): Promise<number> {
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

/**
 * Where the samples of the V8 CPU profiles in `dir` (one per thread) fell:
 * by area, then the top functions, weighted by each sample's time. V8
 * samples wall-clock time: a thread descheduled inside a socket send counts
 * as sending meanwhile (bench/sql_steps.ts counts CPU time with perf).
 */
async function profileSummary(dir: string): Promise<string[]> {
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number) =>
    map.set(key, (map.get(key) ?? 0) + us);
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".cpuprofile")) continue;
    const profile = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as {
      nodes: ProfileNode[];
      samples: number[];
      timeDeltas: number[];
    };
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const frame = nodes.get(id)!.callFrame;
      const area = areaOf(frame.url, frame.functionName);
      if (area === "idle") return;
      // A sample's time is the gap to the next one.
      const us = profile.timeDeltas[i + 1] ?? 0;
      total += us;
      add(byArea, area, us);
      add(byFunction, `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}`.trim(), us);
    });
  }
  if (total === 0) return [];
  const top = (map: Map<string, number>, n: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n)
      .map(([name, us]) => `${(100 * us / total).toFixed(1).padStart(5)} %  ${name}`);
  return [
    `CPU profile (${(total / 1000).toFixed(0)} ms busy): by area`,
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
