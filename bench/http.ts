/**
 * HTTP benchmark: labgate's query API against a bare Hono handler doing the
 * same physical read, in one process, on a fresh database.
 *
 *   deno run -A bench/http.ts [--seconds 10] [--connections 32] [--postgres URL]
 *
 * Drives wrk (/usr/bin/wrk) when present, else an in-process fetch loop.
 */
import { parseArgs } from "node:util";
import { Hono } from "hono";
import { sql } from "kysely";
import { createApp } from "../routes/mod.ts";
import type { Actor } from "../src/auth/actor.ts";
import { actorFor } from "../src/auth/credentials.ts";
import { createSession } from "../src/auth/sessions.ts";
import { bootstrapAdmin } from "../src/bootstrap.ts";
import { loadConfig } from "../src/config.ts";
import { createContainer, setPolicy } from "../src/data/containers.ts";
import { createList } from "../src/data/lists.ts";
import { insertRows } from "../src/data/rows.ts";
import { createUser, getUserByEmail } from "../src/data/users.ts";
import { type Database, openDatabase } from "../src/db/mod.ts";
import { createApiKey } from "../src/keys/mod.ts";
import { keySettings } from "../src/keys/settings.ts";
import { createToken as createRemoteToken } from "../src/remote_login/mod.ts";
import { remoteLoginSettings } from "../src/remote_login/settings.ts";
import { createServices, type Services } from "../src/services.ts";
import { createExternalApp, createToken } from "../src/tokens/mod.ts";
import { scratchPostgresDatabase } from "../tests/_support/backends.ts";

const ADMIN_EMAIL = "admin@bench.example";
const READER_EMAIL = "reader@bench.example";
const APP_USER_EMAIL = "app@bench.example";
const FOLDER = "/home/bench";
const ROWS = 1000;

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** A fresh database: PGlite in memory, or a new PostgreSQL database dropped after. */
async function freshDatabase(postgres: string | undefined): Promise<{
  database: Database;
  dispose: () => Promise<void>;
}> {
  if (!postgres) {
    const database = await openDatabase();
    return { database, dispose: () => database.close() };
  }
  return await scratchPostgresDatabase(postgres, { prefix: "lg_bench" });
}

/** The folder, list, users and credentials the bench calls with. */
async function setUp(svc: Services) {
  await bootstrapAdmin(svc, () => {});
  const adminUser = (await getUserByEmail(svc, ADMIN_EMAIL))!;
  const admin = browserActor(
    adminUser,
    (await createSession(svc, { userId: adminUser.id })).session,
  );
  await svc.settings.set(keySettings, {
    apiKeys: true,
    apiKeyExpiries: ["1w", "never"],
    sessionKeys: true,
  });
  const settings = await svc.settings.get(remoteLoginSettings);
  // The bench calls verifyToken.view far more often than the default 600/min allows.
  await svc.settings.set(remoteLoginSettings, { ...settings, verifyPerMinute: 1_000_000 });

  await createExternalApp(svc, admin, {
    id: "bench-app",
    description: "Benchmark app",
    entryPoints: ["rest"],
    defaultExpiryDays: 30,
  });
  const appUser = await createUser(svc, admin, {
    email: APP_USER_EMAIL,
    userType: "app",
    externalAppId: "bench-app",
    password: "bench-app-password",
  });
  const reader = await createUser(svc, admin, { email: READER_EMAIL, password: "reader-pass-1" });
  await createContainer(svc, admin, { parentPath: "/home", name: "bench", inheritPolicy: false });
  await setPolicy(svc, admin, FOLDER, {
    inherit: false,
    assignments: [
      { principalId: reader.id, role: "reader" },
      { principalId: appUser.id, role: "reader" },
    ],
  });
  const def = await createList(svc, admin, FOLDER, {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [
      { name: "Name", type: "Text" },
      { name: "Weight", type: "Double" },
    ],
  });
  const rows = Array.from({ length: ROWS }, (_, i) => ({ Name: `sample ${i}`, Weight: i / 10 }));
  for (let i = 0; i < rows.length; i += 250) {
    await insertRows(svc, admin, def, rows.slice(i, i + 250));
  }

  const readerSession = (await createSession(svc, { userId: reader.id })).session;
  const readerActor = browserActor(reader, readerSession);
  const { key } = await createApiKey(svc, readerActor, { expiry: "never", description: "bench" });
  const { value: token } = await createToken(svc, admin, {
    appId: "bench-app",
    appUserId: appUser.id,
  });
  const remoteToken = await createRemoteToken(
    svc,
    readerActor,
    new URL("http://127.0.0.1/"),
  );
  return { def, key, token, remoteToken };
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

/** Runs wrk with a generated Lua script for the headers. */
async function runWrk(
  target: Target,
  options: { seconds: number; connections: number; dir: string },
): Promise<Figures> {
  const script = `${options.dir}/${target.name.replace(/\W+/g, "_")}.lua`;
  await Deno.writeTextFile(
    script,
    Object.entries(target.headers)
      .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}\n`)
      .join(""),
  );
  const output = await new Deno.Command("wrk", {
    args: [
      "-t2",
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "--timeout",
      "10s",
      "--latency",
      "-s",
      script,
      target.url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) throw new Error(`wrk failed: ${new TextDecoder().decode(output.stderr)}`);
  const ms = (label: string) => {
    const match = text.match(new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, "m"));
    if (!match) return NaN;
    const scale = { us: 0.001, ms: 1, s: 1000 }[match[2] as "us" | "ms" | "s"];
    return Number(match[1]) * scale;
  };
  const non2xx = text.match(/Non-2xx or 3xx responses:\s+(\d+)/);
  const socket = text.match(/Socket errors:.*/);
  return {
    rps: Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN),
    p50: ms("50"),
    p99: ms("99"),
    errors: Number(non2xx?.[1] ?? 0) + (socket ? 1 : 0),
  };
}

/** The fallback without wrk: `connections` fetch loops for `seconds`. */
async function runFetchLoop(
  target: Target,
  options: { seconds: number; connections: number },
): Promise<Figures> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + options.seconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: options.connections }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const response = await fetch(target.url, { headers: target.headers });
      await response.arrayBuffer();
      if (!response.ok) errors++;
      latencies.push(performance.now() - t0);
    }
  }));
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return {
    rps: latencies.length / ((performance.now() - started) / 1000),
    p50: at(0.5),
    p99: at(0.99),
    errors,
  };
}

async function hasWrk(): Promise<boolean> {
  try {
    return (await new Deno.Command("wrk", { args: ["-v"], stdout: "null", stderr: "null" })
      .output()) !== null;
  } catch {
    return false;
  }
}

async function check(target: Target): Promise<void> {
  const response = await fetch(target.url, { headers: target.headers });
  const body = await response.text();
  if (!response.ok) throw new Error(`${target.name}: ${response.status} ${body.slice(0, 300)}`);
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "32" },
      postgres: { type: "string" },
    },
  });
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const config = loadConfig({
    LABGATE_ADMIN_EMAIL: ADMIN_EMAIL,
    LABGATE_ADMIN_PASSWORD: "bench-admin-password",
    LABGATE_LOG_REQUESTS: "false",
  });
  const { database, dispose } = await freshDatabase(values.postgres);
  const svc = createServices(config, database);
  const servers: Deno.HttpServer[] = [];
  const dir = await Deno.makeTempDir({ prefix: "labgate-bench-" });
  try {
    const { def, key, token, remoteToken } = await setUp(svc);
    const app = createApp(svc);
    const labgate = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request, info) => app.fetch(request, { clientAddr: info.remoteAddr.hostname }),
    );
    const bareApp = new Hono();
    const query = sql.raw(
      `select * from ${def.qualifiedTable} order by ${def.list.key_column} limit 100`,
    );
    bareApp.get("/rows", async (c) => {
      const { rows } = await query.execute(database.root);
      return c.json({ rows, rowCount: rows.length });
    });
    const bare = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, bareApp.fetch);
    servers.push(labgate, bare);
    const base = `http://127.0.0.1:${labgate.addr.port}`;
    const selectRows =
      `${base}${FOLDER}/query-selectRows.api?schemaName=lists&query.queryName=samples&query.maxRows=100`;
    const targets: Target[] = [
      { name: "bare Hono", url: `http://127.0.0.1:${bare.addr.port}/rows`, headers: {} },
      {
        name: "selectRows, API key",
        url: selectRows,
        headers: { Authorization: `Basic ${btoa(`apikey:${key}`)}` },
      },
      { name: "selectRows, token", url: selectRows, headers: { Authorization: `Token ${token}` } },
      {
        name: "verifyToken.view",
        url: `${base}/login${FOLDER}/verifyToken.view?labkeyToken=${remoteToken}`,
        headers: {},
      },
    ];
    for (const target of targets) await check(target);
    const useWrk = await hasWrk();
    console.log(
      `labgate bench: ${database.kind}, ${navigator.hardwareConcurrency} cores, ` +
        `${connections} connections, ${seconds} s each, ${useWrk ? "wrk" : "fetch loop"}, ` +
        new Date().toISOString(),
    );
    const results: [Target, Figures][] = [];
    for (const target of targets) {
      const figures = useWrk
        ? await runWrk(target, { seconds, connections, dir })
        : await runFetchLoop(target, { seconds, connections });
      results.push([target, figures]);
      await svc.audit.flush();
    }
    const bareRps = results[0][1].rps;
    const cell = (text: string, width: number) => text.padStart(width);
    console.log(
      `| ${"endpoint".padEnd(22)} | ${cell("req/s", 8)} | ${cell("p50 ms", 7)} | ${
        cell("p99 ms", 7)
      } | ${cell("× bare", 6)} | ${cell("errors", 6)} |`,
    );
    console.log(
      `|${"-".repeat(24)}|${"-".repeat(9)}:|${"-".repeat(8)}:|${"-".repeat(8)}:|${"-".repeat(7)}:|${
        "-".repeat(7)
      }:|`,
    );
    for (const [target, f] of results) {
      console.log(
        `| ${target.name.padEnd(22)} | ${cell(f.rps.toFixed(0), 8)} | ${
          cell(f.p50.toFixed(2), 7)
        } | ${cell(f.p99.toFixed(2), 7)} | ${cell((f.rps / bareRps).toFixed(2), 6)} | ${
          cell(String(f.errors), 6)
        } |`,
      );
    }
  } finally {
    for (const server of servers) await server.shutdown();
    await svc.audit.flush();
    await dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
