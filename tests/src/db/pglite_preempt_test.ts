/**
 * The embedded database's stops, counted by cause: the app's wait behind a
 * SQL-door statement (LABGATE_EMBEDDED_PREEMPT_MS), a statement's time
 * limit, and a client's cancel.
 */
import assert from "node:assert/strict";
import { AuditLog } from "../../../src/audit/mod.ts";
import { type Database, embeddedArchive } from "../../../src/db/mod.ts";
import { type PgliteClient, StatementStopped } from "../../../src/db/pglite_client.ts";
import { testDatabase } from "../../_support/backends.ts";
import { query } from "../../../wire/protocol/messages.ts";

/** Runs for many minutes on PGlite. */
const HEAVY =
  "select count(*) from generate_series(1, 100000000) a, generate_series(1, 100000000) b";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `work`, failing after `ms` instead of hanging the run when it waits forever. */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Still waiting after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A test on a fresh on-disk embedded database (stops restart its thread, so each test has its
 * own), handed its PgliteClient.
 */
function embeddedTest(
  name: string,
  options: { preemptAfterMs?: number },
  fn: (database: Database, pglite: PgliteClient) => Promise<void>,
): void {
  // Each test leaves its own threads and timers to the database it disposes of.
  Deno.test(name, { sanitizeOps: false, sanitizeResources: false }, async () => {
    const { database, dispose } = await testDatabase("pglite", { onDisk: true, ...options });
    try {
      if (database.engine.kind !== "pglite") throw new Error("expected PGlite");
      await fn(database, database.engine.pglite);
    } finally {
      await dispose();
    }
  });
}

/** The client's stops by cause are `expected`, every other cause none. */
function assertStops(pglite: PgliteClient, expected: Partial<PgliteClient["preemptions"]>): void {
  assert.deepEqual(pglite.preemptions, {
    timeout: 0,
    cancel: 0,
    web: 0,
    idle: 0,
    slow_reader: 0,
    ...expected,
  });
}

/** HEAVY as the SQL door runs it: preemptible, under the session lock, for `owner`. */
function runHeavy(
  pglite: PgliteClient,
  options: { owner?: object; timeoutMs?: number } = {},
): Promise<unknown> {
  const { owner = {}, timeoutMs } = options;
  return pglite.lock.run(() =>
    pglite.execProtocolRaw(query(HEAVY), { preemptible: true, owner, timeoutMs })
  );
}

embeddedTest(
  "the app waits the configured time behind a SQL-door statement, then stops it",
  { preemptAfterMs: 700 },
  async (database, pglite) => {
    const stopped = assert.rejects(runHeavy(pglite), (error: Error) => {
      assert.ok(error instanceof StatementStopped);
      assert.equal(error.code, "57014");
      assert.match(error.message, /web side needed the embedded database.*waited 700 ms/);
      return true;
    });
    await sleep(200);
    const started = performance.now();
    const rows = await database.db.selectFrom("settings").select("key").execute();
    const waited = performance.now() - started;
    await stopped;
    assert.ok(rows.length > 0);
    assert.ok(waited >= 700, `the app waited only ${waited.toFixed(0)} ms`);
    assert.equal(pglite.restarts, 1);
    assertStops(pglite, { web: 1 });
  },
);

embeddedTest(
  "PgliteClient counts a statement stopped at its time limit and one canceled",
  {},
  async (_database, pglite) => {
    await assert.rejects(
      pglite.lock.run(() => pglite.query(HEAVY, [], { timeoutMs: 200 })),
      /statement timeout/,
    );
    await pglite.query("select 1"); // the new thread is up
    const owner = {};
    const canceled = runHeavy(pglite, { owner });
    // Once it runs (a loaded machine may take a while to post it).
    while (!pglite.interrupt(owner, new StatementStopped("canceled", { restarted: true }))) {
      await sleep(50);
    }
    await assert.rejects(canceled, /canceled/);
    assert.equal(pglite.restarts, 2);
    assertStops(pglite, { timeout: 1, cancel: 1 });
    // The database is back.
    assert.deepEqual((await pglite.query("select 1 as one")).rows, [{ one: 1 }]);
  },
);

/**
 * Holds the session as the SQL door's lease does, idle (an open transaction): it gives the
 * session back when the app waits for it (`onPreempt()`), or after `ms` at the latest.
 */
async function holdIdle(pglite: PgliteClient, ms: number): Promise<{ yielded: () => boolean }> {
  const release = await pglite.lock.acquire();
  let yielded = false;
  const unsubscribe = pglite.onPreempt(() => {
    yielded = true;
    give();
  });
  const timer = setTimeout(() => give(), ms);
  let given = false;
  function give() {
    if (given) return;
    given = true;
    clearTimeout(timer);
    unsubscribe();
    release();
  }
  return { yielded: () => yielded };
}

embeddedTest(
  "embeddedArchive() waits the configured time behind a SQL-door statement or idle session, then stops it",
  { preemptAfterMs: 300 },
  async (database, pglite) => {
    const stopped = assert.rejects(runHeavy(pglite), StatementStopped);
    await sleep(200);
    // The archive itself took up to 15 s on a loaded two-core run; without preemption it waits
    // for the cross join, many minutes.
    await within(60_000, embeddedArchive(database));
    await stopped;
    assert.equal(pglite.preemptions.web, 1);

    // Without preemption it would wait the two minutes the idle holder keeps the session.
    const holder = await holdIdle(pglite, 120_000);
    await within(60_000, embeddedArchive(database));
    assert.ok(holder.yielded(), "the idle session was not asked to yield");
  },
);

embeddedTest(
  "the audit log's COPY waits for a SQL-door statement to end instead of stopping it",
  { preemptAfterMs: 300 },
  async (database, pglite) => {
    // The door's own statements are audited: their entries must not stop what the door runs.
    const limited = assert.rejects(runHeavy(pglite, { timeoutMs: 1500 }), /statement timeout/);
    await sleep(200);
    const audit = new AuditLog(database, { flushMs: 10 });
    audit.record({ door: "system", event: "test.copy", outcome: "ok" });
    await within(15_000, audit.flush());
    await limited;
    assertStops(pglite, { timeout: 1 });
    const rows = await database.db.selectFrom("audit_log").select("event")
      .where("event", "=", "test.copy").execute();
    assert.equal(rows.length, 1);
  },
);
