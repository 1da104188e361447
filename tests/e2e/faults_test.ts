/**
 * Faults of the PostgreSQL server under a real labgate (main.ts): the
 * postmaster killed, the server restarted with every session cut, the
 * server down at start. Each runs on a private server
 * (tests/_support/private_postgres.ts), never the shared one. labgate must
 * stay up, answer clean errors while the database is gone (HTTP 503, SQL
 * door 08006 / 57P01) and recover by itself, with no request left hanging.
 */
import assert from "node:assert/strict";
import { PrivatePostgres, privatePostgresUnavailable } from "../_support/private_postgres.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, migratedDataDir } from "../_support/backends.ts";
import { DATABASE_UNAVAILABLE } from "../../src/errors.ts";
import { installed, skipped } from "./_clients.ts";
import { errorOf, type Message, RawClient, rowsOf } from "../wire/_client.ts";
import { query } from "../../wire/protocol/messages.ts";
import {
  eventually,
  freePort,
  type Instance,
  LabgateProcess,
  startInstance,
} from "./_instances.ts";

const ENV = {
  LABGATE_ADMIN_EMAIL: ADMIN_EMAIL,
  LABGATE_ADMIN_PASSWORD: ADMIN_PASSWORD,
  LABGATE_SECRET_KEY: "fault tests share this secret, 32+ chars",
};
/** No request may take longer than this, database gone or not. */
const ANSWER_WITHIN_MS = 10_000;

function unavailable(): string | null {
  const why = privatePostgresUnavailable();
  if (why) console.log(`SKIPPED: ${why} (a private PostgreSQL server is needed)`);
  return why;
}

/** Signs in the admin; the headers that send the session (cookie and CSRF token). */
async function signIn(on: Instance): Promise<Record<string, string>> {
  const response = await fetch(`${on.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const { csrfToken } = await response.json();
  return {
    cookie: response.headers.getSetCookie()[0].split(";")[0],
    "x-csrf-token": csrfToken,
  };
}

/** One answer: the HTTP status and error message, or what psql printed. */
type Outcome = string;

/** GET /api/folders with the session; "200", or the status and the error's message. */
async function httpOutcome(on: Instance, session: Record<string, string>): Promise<Outcome> {
  const response = await fetch(`${on.url}/api/folders`, {
    headers: session,
    signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
  });
  const body = await response.text();
  if (response.status === 200) return "200";
  return `${response.status} ${JSON.parse(body).error?.message}`;
}

/** `select 1` through the SQL door with psql: "1", or psql's error line. */
async function psqlOutcome(port: number): Promise<Outcome> {
  const out = await new Deno.Command("psql", {
    args: [
      "-X",
      "-A",
      "-t",
      `host=127.0.0.1 port=${port} dbname=/home user=${ADMIN_EMAIL} sslmode=disable`,
      "-c",
      "select 1",
    ],
    env: { PGPASSWORD: ADMIN_PASSWORD, PGCONNECT_TIMEOUT: "5" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim() ||
    new TextDecoder().decode(out.stderr).trim();
  return text.split("\n").find((line) => /FATAL|ERROR|^1$|server closed/.test(line)) ?? text;
}

/**
 * `select 1` on one SQL door session kept open across the fault (opened
 * again when the door ends it): "1", or the error's SQLSTATE and message.
 */
function sessionOutcomes(port: number): () => Promise<Outcome> {
  let session: RawClient | null = null;
  return async () => {
    try {
      session ??= await RawClient.connect(port, {
        user: ADMIN_EMAIL,
        password: ADMIN_PASSWORD,
        database: "/home",
      });
    } catch (error) {
      return `login ${(error as Error).message}`; // "CODE: message" from the door
    }
    await session.write(query("select 1")).catch(() => {});
    const reply: Message[] = [];
    try {
      while (reply.at(-1)?.type !== "Z") reply.push(await session.next(ANSWER_WITHIN_MS));
    } catch (error) {
      if ((error as Error).message !== "Connection closed by the server") throw error;
      session.close();
      session = null;
    }
    const error = reply.find((m) => m.type === "E");
    if (error) return `${errorOf(error).code}: ${errorOf(error).message}`;
    return reply.length ? rowsOf(reply)[0][0]! : "closed without an error";
  };
}

/** Runs `next` over and over until `stop`, counting each distinct outcome. */
function load(next: () => Promise<Outcome>) {
  const seen = new Map<Outcome, number>();
  let stopped = false;
  const running = (async () => {
    while (!stopped) {
      const outcome = await next().catch((error) => `thrown ${(error as Error).message}`);
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
      // Failures come fast while the database is gone: leave the two cores to labgate.
      if (!/^(200|1)$/.test(outcome)) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    seen,
    async stop(): Promise<void> {
      stopped = true;
      await running;
    },
  };
}

/** The clean answers while the database is gone (or coming back). */
const CLEAN_HTTP = new RegExp(
  `^(200|503 (${
    escape(DATABASE_UNAVAILABLE)
  }|The audit log cannot be written: try again in a minute))$`,
);
const CLEAN_PSQL = new RegExp(
  `^(1|.*FATAL: +(${
    escape(DATABASE_UNAVAILABLE)
  }|The database session ended unexpectedly: reconnect|Could not connect to the database server.*|Could not open a database session.*|The audit log cannot be written.*)|.*server closed the connection unexpectedly)$`,
);

/** One open session: answers, or the database's absence as 57P01 / 08006 / 57P03. */
const CLEAN_SESSION = /^(1|(login )?(57P01|08006|57P03): .+)$/;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether labgate's LISTEN connection is in place (notifications.ts names it labgate-listen). */
const LISTENING_SQL = "select count(*) from pg_stat_activity " +
  "where application_name = 'labgate-listen' and query like 'listen %'";

/**
 * labgate on a private server under HTTP and SQL-door load while `fault`
 * strikes: every answer is clean, labgate stays up, and both doors answer
 * normally again within 20 s of the database being back.
 */
async function survives(fault: (server: PrivatePostgres) => Promise<void>): Promise<void> {
  const server = await PrivatePostgres.start();
  const doorPort = freePort();
  let on: Instance | null = null;
  try {
    on = await startInstance("127.0.0.1", {
      ...ENV,
      DATABASE_URL: server.url,
      LABGATE_SQL_DOOR_PORT: String(doorPort),
    });
    const instance = on;
    const cookie = await signIn(instance);
    const http = load(() => httpOutcome(instance, cookie));
    const door = load(() => psqlOutcome(doorPort));
    const session = load(sessionOutcomes(doorPort));
    await eventually("load under way", () => Promise.resolve(door.seen.has("1")), 20_000);
    await fault(server);
    // The database is back: both doors answer normally again by themselves.
    const recovered = async () =>
      (await httpOutcome(instance, cookie)) === "200" && (await psqlOutcome(doorPort)) === "1";
    const back = Date.now();
    await eventually("labgate answers normally again", recovered, 20_000);
    console.log(`both doors answered normally ${Date.now() - back} ms after the database was back`);
    // The cross-instance listener is back too (its own connection, outside the pool).
    const listening = async () => {
      const out = await new Deno.Command("psql", {
        args: ["-X", "-A", "-t", server.url, "-c", LISTENING_SQL],
        stdout: "piped",
        stderr: "null",
      }).output();
      return new TextDecoder().decode(out.stdout).trim() === "1";
    };
    await eventually("labgate listens for invalidations again", listening, 20_000);
    await http.stop();
    await door.stop();
    await session.stop();
    console.log("HTTP:", Object.fromEntries(http.seen), "psql:", Object.fromEntries(door.seen));
    console.log("session:", Object.fromEntries(session.seen));
    for (const outcome of session.seen.keys()) assert.match(outcome, CLEAN_SESSION);
    for (const outcome of http.seen.keys()) assert.match(outcome, CLEAN_HTTP);
    for (const outcome of door.seen.keys()) assert.match(outcome, CLEAN_PSQL);
    assert.ok(http.seen.has(`503 ${DATABASE_UNAVAILABLE}`), `HTTP saw no fault`);
    const exited = await Promise.race([
      instance.process.status.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 100)),
    ]);
    assert.equal(exited, false, `labgate exited:\n${instance.process.stderr}`);
    assert.doesNotMatch(instance.process.stderr, /Uncaught|Internal error/);
  } finally {
    await on?.process.stop();
    await server.destroy();
  }
}

Deno.test({
  name: "labgate stays up when the PostgreSQL postmaster is killed under load, and recovers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (unavailable()) return;
    if (!await installed("psql")) return skipped("psql");
    await survives(async (server) => {
      await server.crash();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await server.restart("start");
    });
  },
});

Deno.test({
  name: "labgate recovers by itself from pg_ctl restart -m immediate under load",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (unavailable()) return;
    if (!await installed("psql")) return skipped("psql");
    await survives((server) => server.restart("restart"));
  },
});

Deno.test({
  name: "labgate started with no PostgreSQL listening names the server and what to check",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const labgate = LabgateProcess.spawn({
      ...ENV,
      DATABASE_URL: `postgres://postgres:hidden@127.0.0.1:${port}/labgate`,
      LABGATE_DATABASE_WAIT_SECONDS: "1",
    });
    const status = await labgate.status;
    assert.equal(status.code, 1);
    assert.match(labgate.stderr, /waiting for the PostgreSQL server at 127\.0\.0\.1:\d+/);
    assert.match(
      labgate.stderr,
      new RegExp(
        `Cannot reach the PostgreSQL server at 127\\.0\\.0\\.1:${port} \\(database labgate\\)`,
      ),
    );
    assert.match(labgate.stderr, /Connection refused.*Check that PostgreSQL is running/);
    assert.doesNotMatch(labgate.stderr, /hidden|Uncaught|\n\s+at /);
  },
});

Deno.test({
  name: "labgate started before PostgreSQL waits for it and then serves",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (unavailable()) return;
    const server = await PrivatePostgres.start();
    await server.restart("stop");
    const labgate = LabgateProcess.spawn({
      ...ENV,
      DATABASE_URL: server.url,
      LABGATE_HOSTNAME: "127.0.0.1",
    });
    try {
      // Started only once labgate says it waits (on a loaded machine it takes seconds to get there).
      await eventually(
        "labgate says it waits for PostgreSQL",
        () =>
          Promise.resolve(/waiting for the PostgreSQL server at 127\.0\.0\.1/.test(labgate.stderr)),
        60_000,
      );
      await server.restart("start");
      const [, port] = await labgate.waitFor(/^labgate: http:\/\/[^:]+:(\d+) /);
      const on: Instance = {
        process: labgate,
        url: `http://127.0.0.1:${port}`,
        hostname: "127.0.0.1",
      };
      assert.equal(await httpOutcome(on, await signIn(on)), "200");
    } finally {
      await labgate.stop();
      await server.destroy();
    }
  },
});

/** Rows in the import that labgate is killed during. */
const IMPORT_ROWS = 100_000;

/** A JSON API call with the session; the status and parsed body. */
async function api(
  on: Instance,
  session: Record<string, string>,
  method: string,
  path: string,
  body?: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; json: any }> {
  const response = await fetch(`${on.url}/api${path}`, {
    method,
    headers: { ...session, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

/**
 * labgate killed with SIGKILL while it runs a CSV import and a stream of
 * one-row API inserts, then started again on the same database: the
 * import's rows are all there or none, every acknowledged insert is there,
 * and every committed write has exactly its audit record.
 */
async function killedMidWrite(env: Record<string, string>): Promise<void> {
  let on = await startInstance("127.0.0.1", { ...ENV, ...env });
  try {
    let session = await signIn(on);
    const folder = await api(on, session, "POST", "/folders", { parent: "/home", name: "plates" });
    assert.equal(folder.status, 201, JSON.stringify(folder.json));
    const list = await api(on, session, "POST", `/folders/${folder.json.id}/lists`, {
      name: "Wells",
      key: "Id",
      columns: [{ name: "Id", type: "Text" }, { name: "Batch", type: "Text" }],
    });
    assert.equal(list.status, 201, JSON.stringify(list.json));
    const rowsPath = `/lists/${list.json.id}/rows`;

    const acknowledged = new Set<string>();
    let next = 0;
    let killed = false;
    const instance = on;
    const inserter = async () => {
      while (!killed) {
        const id = `i-${next++}`;
        const answer = await api(instance, session, "POST", rowsPath, {
          rows: [{ Id: id, Batch: "api" }],
        }).catch(() => null);
        if (answer?.status === 201) acknowledged.add(id);
      }
    };
    const inserters = [inserter(), inserter(), inserter()];
    await eventually(
      "inserts acknowledged",
      () => Promise.resolve(acknowledged.size >= 10),
      30_000,
    );
    const csv = "Id,Batch\n" +
      Array.from({ length: IMPORT_ROWS }, (_, i) => `imp-${i},import\n`).join("");
    let importAnswer = "none before the kill";
    const sentAt = Date.now();
    const importing = fetch(`${on.url}/api/lists/${list.json.id}/import`, {
      method: "POST",
      headers: { ...session, "content-type": "text/csv" },
      body: csv,
    }).then((r) => (importAnswer = `${r.status} after ${Date.now() - sentAt} ms`, r.text()))
      .catch(() => {});
    // Part-way through the import on either backend (30,000 rows took 0.9–3.4 s here); the
    // checks hold wherever the kill lands, and the line below says where it did.
    await new Promise((resolve) => setTimeout(resolve, 900));
    Deno.kill(on.process.pid, "SIGKILL");
    killed = true;
    await on.process.status;
    await Promise.all([...inserters, importing]);
    console.log(
      `killed ${Date.now() - sentAt} ms after the import was sent; its answer: ${importAnswer}; ` +
        `${acknowledged.size} inserts acknowledged`,
    );

    on = await startInstance("127.0.0.1", { ...ENV, ...env });
    session = await signIn(on);
    const count = async (prefix: string) => {
      const page = await api(on, session, "GET", `${rowsPath}?Id~startswith=${prefix}&limit=0`);
      assert.equal(page.status, 200, JSON.stringify(page.json));
      return page.json.total as number;
    };
    const imported = await count("imp-");
    assert.ok(imported === 0 || imported === IMPORT_ROWS, `a partial import: ${imported} rows`);
    const inserted = await api(on, session, "GET", `${rowsPath}?Id~startswith=i-&limit=100000`);
    const present = new Set(inserted.json.rows.map((r: { Id: string }) => r.Id));
    for (const id of acknowledged) assert.ok(present.has(id), `acknowledged ${id} is lost`);

    const audit = await api(on, session, "GET", "/audit?event=rows.&limit=5000");
    assert.equal(audit.status, 200, JSON.stringify(audit.json));
    const records = (audit.json as { event: string; rows: number; detail: string }[])
      .filter((e) => e.detail === "Wells");
    assert.equal(
      records.filter((e) => e.event === "rows.insert" && e.rows === 1).length,
      present.size,
      "one audit record per committed insert",
    );
    assert.deepEqual(
      records.filter((e) => e.event === "rows.import").map((e) => e.rows),
      imported ? [IMPORT_ROWS] : [],
    );
  } finally {
    await on.process.stop();
  }
}

Deno.test({
  name:
    "labgate killed during a CSV import and API inserts on the embedded database loses nothing committed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await migratedDataDir("lg_kill_");
    try {
      await killedMidWrite({ LABGATE_DATA_DIR: dataDir });
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "labgate killed during a CSV import and API inserts on PostgreSQL loses nothing committed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (unavailable()) return;
    const server = await PrivatePostgres.start();
    try {
      await killedMidWrite({ DATABASE_URL: server.url });
    } finally {
      await server.destroy();
    }
  },
});
