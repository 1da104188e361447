/** pgbench (a C load generator that leaves the CPU to the server) and PgBouncer, against the fixture's database or the door. */
import { ACCOUNTS, type Fixture, FOLDER, READER } from "./fixture.ts";
import type { Labgate } from "./labgate.ts";
import type { Figures } from "./report.ts";

const decoder = new TextDecoder();

export interface PgTarget {
  name: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

/** Where libpq programs (pgbench, psql) connect: host, port and user flags. */
export function libpqArgs(target: PgTarget): string[] {
  return ["-h", "127.0.0.1", "-p", String(target.port), "-U", target.user];
}

/** The password and plain TCP (no TLS, so that rates do not measure TLS) for libpq programs. */
export function libpqEnv(target: PgTarget): Record<string, string> {
  return { PGPASSWORD: target.password ?? "", PGSSLMODE: "disable" };
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
 *
 * pgbench's `-T` counts from before its clients connect, and it connects them
 * one after another in each thread: 500 sign-ins can take longer than a short
 * measurement, which then ends with no transaction at all. So `-T` gets the
 * time the target took to connect its clients last time on top (scaled to the
 * client count), and a run whose connecting still left less than most of
 * `seconds` is taken again with the time it took.
 */
export async function pgbench(
  target: PgTarget,
  script: string,
  options: PgbenchOptions,
): Promise<Figures> {
  const timed = !options.reconnect && !options.rate;
  let attempt = 1;
  let retried = false;
  for (;;) {
    const connectS = timed ? connectSeconds(target, options.clients) : 0;
    try {
      const figures = await pgbenchOnce(target, script, {
        ...options,
        seconds: options.seconds + connectS,
      });
      if (!timed || figures.connectMs === undefined) return figures;
      connectMsPerClient.set(target.name, figures.connectMs / clientsPerThread(options.clients));
      if (
        retried || options.seconds + connectS - figures.connectMs / 1000 >= 0.8 * options.seconds
      ) {
        return figures;
      }
      retried = true;
      console.log(
        `  ${target.name}: connecting took ${
          Math.round(figures.connectMs)
        } ms of the run, taking it again`,
      );
    } catch (error) {
      if (attempt++ === 3 || !/too many clients/.test((error as Error).message)) throw error;
      console.log(`  ${target.name}: PostgreSQL has no free connection, trying again in 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }
}

/** Milliseconds one pgbench thread took per client to connect, by target name, from its last run. */
const connectMsPerClient = new Map<string, number>();

/** pgbench's threads (`-j`), two at most: the load generator leaves the CPU to the server. */
function threads(clients: number): number {
  return Math.min(2, clients);
}

/** Each pgbench thread connects its share of the clients one after another. */
function clientsPerThread(clients: number): number {
  return clients / threads(clients);
}

/** Whole seconds to add to `-T` so that `clients` connect before the measured time starts. */
function connectSeconds(target: PgTarget, clients: number): number {
  const perClient = connectMsPerClient.get(target.name) ?? 0;
  return Math.ceil(1.5 * perClient * clientsPerThread(clients) / 1000);
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
      String(threads(options.clients)),
      "-T",
      String(options.seconds),
      "-M",
      options.mode,
      ...libpqArgs(target),
    ];
    if (options.reconnect) args.push("-C");
    if (options.rate) args.push("-R", String(options.rate));
    else args.push("-l", `--log-prefix=${dir}/log`);
    const out = await new Deno.Command("pgbench", {
      args: [...args, target.database],
      env: { ...libpqEnv(target), PGCONNECT_TIMEOUT: "30" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = decoder.decode(out.stdout);
    const stderr = decoder.decode(out.stderr);
    const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    const connectMs = Number(/initial connection time = ([\d.]+) ms/.exec(stdout)?.[1]);
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
      connectMs: Number.isFinite(connectMs) ? connectMs : undefined,
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
): Promise<{ target: PgTarget; pid: number; stop(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "labgate-pgbouncer-" });
  // PgBouncer refuses to run as root; it then runs as postgres and must read the directory.
  await Deno.chmod(dir, 0o755);
  const url = new URL(fixture.url);
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/pgbouncer.ini`,
    `[databases]
bench = host=${url.searchParams.get("host") ?? url.hostname} port=${url.port || 5432} dbname=${
      url.pathname.slice(1)
    } user=${decodeURIComponent(url.username) || "postgres"}${
      url.password ? ` password=${decodeURIComponent(url.password)}` : ""
    }

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
    pid: child.pid,
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
