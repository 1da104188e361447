/**
 * SQL door benchmark: a pgbench-style primary-key select on a list table,
 * 16 clients, run by Debian's pgbench against (a) PostgreSQL directly,
 * (b) a plain TCP relay in front of it (the cost of any extra hop on this
 * machine, no protocol work), and (c) labgate's SQL door on the same
 * PostgreSQL. Prints TPS, p50/p99 latency and the door/direct ratio.
 *
 *   deno run -A bench/sql_door.ts
 *
 * BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) names a server
 * where a scratch database may be created; BENCH_SECONDS (10), BENCH_CLIENTS (16),
 * BENCH_THREADS (2), BENCH_MODES ("prepared,simple"), BENCH_TARGETS ("postgres,relay,door")
 * and BENCH_ROWS (100000) tune the run.
 */
import process from "node:process";
import { sql } from "kysely";
import pg from "pg";
import { loadConfig } from "../src/config.ts";
import { createContainer, setPolicy } from "../src/data/containers.ts";
import { createList } from "../src/data/lists.ts";
import { folderSchema } from "../src/data/physical.ts";
import { createUser } from "../src/data/users.ts";
import { openDatabase } from "../src/db/mod.ts";
import { bootstrapAdmin } from "../src/bootstrap.ts";
import { actorFor } from "../src/auth/credentials.ts";
import { createServices } from "../src/services.ts";
import { sqlDoorSettings } from "../src/sql_door/settings.ts";
import { startSqlDoor } from "../wire/mod.ts";

const env = (name: string, fallback: string) => Deno.env.get(name) || fallback;
const SERVER = env("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres");
const SECONDS = Number(env("BENCH_SECONDS", "10"));
const CLIENTS = Number(env("BENCH_CLIENTS", "16"));
const THREADS = Number(env("BENCH_THREADS", "2"));
const ROWS = Number(env("BENCH_ROWS", "100000"));
const MODES = env("BENCH_MODES", "prepared,simple").split(",");
const TARGETS = env("BENCH_TARGETS", "postgres,relay,door").split(",");
const USER = { email: "bench@example.org", password: "bench-password-1" };
const FOLDER = "/home/bench";

interface Result {
  target: string;
  mode: string;
  tps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time this process (relay or door) spent per transaction, in µs. */
  cpuUs: number;
}

/** Runs pgbench with a one-statement script; latencies come from its per-transaction log. */
async function pgbench(
  target: string,
  mode: string,
  conn: { port: number; user: string; password: string; database: string },
  table: string,
): Promise<Result> {
  const dir = await Deno.makeTempDir({ prefix: "labgate-bench-" });
  const cpu = process.cpuUsage();
  await Deno.writeTextFile(
    `${dir}/select.sql`,
    `\\set id random(1, ${ROWS})\nSELECT balance FROM ${table} WHERE id = :id;\n`,
  );
  const out = await new Deno.Command("pgbench", {
    args: [
      "-n",
      "-f",
      `${dir}/select.sql`,
      "-c",
      String(CLIENTS),
      "-j",
      String(THREADS),
      "-T",
      String(SECONDS),
      "-M",
      mode,
      "-l",
      `--log-prefix=${dir}/log`,
      "-h",
      "127.0.0.1",
      "-p",
      String(conn.port),
      "-U",
      conn.user,
      conn.database,
    ],
    env: { PGPASSWORD: conn.password, PGSSLMODE: "disable" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const used = process.cpuUsage(cpu);
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`pgbench against ${target} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
  const latencies: number[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.startsWith("log")) continue;
    for (const line of (await Deno.readTextFile(`${dir}/${entry.name}`)).split("\n")) {
      const us = Number(line.split(" ")[2]);
      if (line && Number.isFinite(us)) latencies.push(us);
    }
  }
  await Deno.remove(dir, { recursive: true });
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] / 1000;
  const cpuUs = (used.user + used.system) / latencies.length;
  return { target, mode, tps, p50Ms: at(0.5), p99Ms: at(0.99), cpuUs };
}

/** A byte relay with no protocol work: the floor any gateway pays on this machine. */
function relay(port: number): { port: number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    const buf = new Uint8Array(65536);
    try {
      for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
        for (let at = 0; at < n;) at += await to.write(buf.subarray(at, n));
      }
    } catch {
      // one side closed
    }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
  };
  void (async () => {
    for await (const conn of listener) {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.setNoDelay(true);
      upstream.setNoDelay(true);
      void pump(conn, upstream);
      void pump(upstream, conn);
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

async function main() {
  if (
    !await new Deno.Command("pgbench", { args: ["--version"], stdout: "null" }).output().then(
      (o) => o.success,
      () => false,
    )
  ) {
    console.error("pgbench is not installed: apt-get install postgresql-client, then run again");
    Deno.exit(1);
  }
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  const name = `lgb_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.query(`create database ${name}`);
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  const server = {
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username) || "postgres",
    password: decodeURIComponent(url.password),
  };
  const database = await openDatabase({ url: url.toString(), poolSize: 4 });
  const config = loadConfig({
    LABGATE_ADMIN_PASSWORD: "bench-admin-1",
    LABGATE_LOG_REQUESTS: "false",
  });
  const svc = createServices(config, database);
  const results: Result[] = [];
  try {
    await bootstrapAdmin(svc, () => {});
    const root = await svc.db.selectFrom("users").selectAll().executeTakeFirstOrThrow();
    const actor = actorFor(root, {
      credential: { kind: "password", id: null },
      compliance: null,
      impersonatorId: null,
      door: "system",
      clientAddr: null,
    });
    const user = await createUser(svc, actor, USER);
    const folder = await createContainer(svc, actor, {
      parentPath: "/home",
      name: "bench",
      inheritPolicy: false,
    });
    await setPolicy(svc, actor, FOLDER, {
      inherit: false,
      assignments: [{ principalId: user.id, role: "reader" }],
    });
    await createList(svc, actor, FOLDER, {
      name: "accounts",
      key: "id",
      columns: [{ name: "id", type: "Integer" }, { name: "balance", type: "Integer" }, {
        name: "note",
        type: "Text",
      }],
    });
    const table = `${folderSchema(folder.id)}.accounts`;
    await sql.raw(
      `insert into ${table} select g, g % 1000, md5(g::text) from generate_series(1, ${ROWS}) g`,
    )
      .execute(database.root);
    await sql.raw(`analyze ${table}`).execute(database.root);
    await svc.settings.set(sqlDoorSettings, {
      ...sqlDoorSettings.defaults,
      enabled: true,
      backendConnections: CLIENTS,
    });
    const door = await startSqlDoor(svc, {
      hostname: "127.0.0.1",
      port: 0,
      getTlsMaterial: () => Promise.resolve(null),
    });
    const tcp = relay(server.port);
    try {
      for (const mode of MODES) {
        if (TARGETS.includes("postgres")) {
          results.push(await pgbench("postgres", mode, { ...server, database: name }, table));
        }
        if (TARGETS.includes("relay")) {
          results.push(
            await pgbench("tcp relay", mode, { ...server, port: tcp.port, database: name }, table),
          );
        }
        if (TARGETS.includes("door")) {
          results.push(
            await pgbench("sql door", mode, {
              port: door.port!,
              ...USER,
              user: USER.email,
              database: FOLDER,
            }, "lists.accounts"),
          );
        }
      }
    } finally {
      tcp.close();
      await door.close();
    }
    const audited = await svc.db.selectFrom("audit_log").select((eb) =>
      eb.fn.countAll<number>().as("n")
    )
      .where("event", "=", "sql.query").executeTakeFirstOrThrow();
    console.log(
      `\n${CLIENTS} clients, ${THREADS} pgbench threads, ${SECONDS} s per run, ${ROWS} rows, ${navigator.hardwareConcurrency} CPUs`,
    );
    console.log("mode      target      TPS       p50 ms  p99 ms  vs direct  CPU µs/tx here");
    for (const r of results) {
      const direct = results.find((d) => d.mode === r.mode && d.target === "postgres");
      console.log(
        `${r.mode.padEnd(9)} ${r.target.padEnd(10)} ${r.tps.toFixed(0).padStart(7)}  ${
          r.p50Ms.toFixed(3).padStart(6)
        }  ${r.p99Ms.toFixed(3).padStart(6)}  ${
          (direct ? (r.tps / direct.tps).toFixed(2) + "×" : "").padStart(9)
        }  ${r.target === "postgres" ? "" : r.cpuUs.toFixed(1).padStart(6)}`,
      );
    }
    console.log(`audit entries written for the door runs: ${audited.n}`);
    await Deno.mkdir("bench/results", { recursive: true });
    await Deno.writeTextFile(
      `bench/results/sql_door_${new Date().toISOString().replaceAll(":", "-")}.json`,
      JSON.stringify(
        { clients: CLIENTS, threads: THREADS, seconds: SECONDS, rows: ROWS, results },
        null,
        2,
      ),
    );
  } finally {
    await svc.audit.flush();
    await database.close();
    // A closed pool's sessions may still be leaving: dropping "with (force)" would kill them.
    for (let i = 0; i < 100; i++) {
      const { rows } = await admin.query(
        "select count(*)::int as n from pg_stat_activity where datname = $1",
        [name],
      );
      if (rows[0].n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await admin.query(`drop database if exists ${name} with (force)`);
    const roles = await admin.query<{ rolname: string }>(
      "select rolname from pg_roles where rolname like $1",
      [`lg\\_${database.installId}\\_%`],
    );
    for (const { rolname } of roles.rows) await admin.query(`drop role if exists ${rolname}`);
    await admin.end();
  }
}

if (import.meta.main) await main();
