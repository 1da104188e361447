/**
 * The embedded database's stops, counted by cause: the app's wait behind a
 * SQL-door statement (LABGATE_EMBEDDED_PREEMPT_MS), a statement's time
 * limit, and a client's cancel.
 */
import assert from "node:assert/strict";
import { AuditLog } from "../../../src/audit/mod.ts";
import { embeddedArchive } from "../../../src/db/mod.ts";
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

Deno.test({
  name: "the app waits the configured time behind a SQL-door statement, then stops it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { database, dispose } = await testDatabase("pglite", {
      onDisk: true,
      preemptAfterMs: 700,
    });
    try {
      if (database.engine.kind !== "pglite") throw new Error("expected PGlite");
      const { pglite } = database.engine;
      const owner = {};
      const heavy = pglite.lock.run(() =>
        pglite.execProtocolRaw(query(HEAVY), { preemptible: true, owner })
      );
      const stopped = assert.rejects(heavy, (error: Error) => {
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
      assert.deepEqual(pglite.preemptions, {
        timeout: 0,
        cancel: 0,
        web: 1,
        idle: 0,
        slow_reader: 0,
      });
    } finally {
      await dispose();
    }
  },
});

Deno.test({
  name: "PgliteClient counts a statement stopped at its time limit and one canceled",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { database, dispose } = await testDatabase("pglite", { onDisk: true });
    try {
      if (database.engine.kind !== "pglite") throw new Error("expected PGlite");
      const { pglite } = database.engine;
      await assert.rejects(
        pglite.lock.run(() => pglite.query(HEAVY, [], { timeoutMs: 200 })),
        /statement timeout/,
      );
      await pglite.query("select 1"); // the new thread is up
      const owner = {};
      const canceled = pglite.lock.run(() =>
        pglite.execProtocolRaw(query(HEAVY), { preemptible: true, owner })
      );
      // Once it runs (a loaded machine may take a while to post it).
      while (!pglite.interrupt(owner, new StatementStopped("canceled", { restarted: true }))) {
        await sleep(50);
      }
      await assert.rejects(canceled, /canceled/);
      assert.equal(pglite.restarts, 2);
      assert.deepEqual(pglite.preemptions, {
        timeout: 1,
        cancel: 1,
        web: 0,
        idle: 0,
        slow_reader: 0,
      });
      // The database is back.
      assert.deepEqual((await pglite.query("select 1 as one")).rows, [{ one: 1 }]);
    } finally {
      await dispose();
    }
  },
});

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

Deno.test({
  name:
    "embeddedArchive() waits the configured time behind a SQL-door statement or idle session, then stops it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { database, dispose } = await testDatabase("pglite", {
      onDisk: true,
      preemptAfterMs: 300,
    });
    try {
      if (database.engine.kind !== "pglite") throw new Error("expected PGlite");
      const { pglite } = database.engine;
      const heavy = pglite.lock.run(() =>
        pglite.execProtocolRaw(query(HEAVY), { preemptible: true, owner: {} })
      );
      const stopped = assert.rejects(heavy, StatementStopped);
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
    } finally {
      await dispose();
    }
  },
});

Deno.test({
  name: "the audit log's COPY waits for a SQL-door statement to end instead of stopping it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { database, dispose } = await testDatabase("pglite", {
      onDisk: true,
      preemptAfterMs: 300,
    });
    try {
      if (database.engine.kind !== "pglite") throw new Error("expected PGlite");
      const { pglite } = database.engine;
      // The door's own statements are audited: their entries must not stop what the door runs.
      const heavy = pglite.lock.run(() =>
        pglite.execProtocolRaw(query(HEAVY), { preemptible: true, owner: {}, timeoutMs: 1500 })
      );
      const limited = assert.rejects(heavy, /statement timeout/);
      await sleep(200);
      const audit = new AuditLog(database, { flushMs: 10 });
      audit.record({ door: "system", event: "test.copy", outcome: "ok" });
      await within(15_000, audit.flush());
      await limited;
      assert.deepEqual(pglite.preemptions, {
        timeout: 1,
        cancel: 0,
        web: 0,
        idle: 0,
        slow_reader: 0,
      });
      const rows = await database.db.selectFrom("audit_log").select("event")
        .where("event", "=", "test.copy").execute();
      assert.equal(rows.length, 1);
    } finally {
      await dispose();
    }
  },
});
