import assert from "node:assert/strict";
import { backendTest, type TestContext } from "../../_support/backends.ts";
import { AuditLog } from "../../../src/audit/mod.ts";

backendTest("flush() writes a batch with every field as given, COPY syntax included", async (t) => {
  const log = new AuditLog(t.svc.database, { flushMs: 100_000 });
  log.record({
    door: "sql",
    event: "sql.query",
    outcome: "ok",
    userId: 2,
    userEmail: "a@example.org",
    credential: { kind: "api_key", id: "k1" },
    compliance: { irbNumber: "IRB-1", termsAccepted: true },
    containerId: 3,
    containerPath: "/home/x",
    detail: "select 'é', \\, \"q\"",
    rows: 7,
    durationMs: 1.25,
    clientAddr: "::1",
    message: "m",
  });
  log.record({ door: "web", event: "test.empty", outcome: "failed" });
  log.record({
    door: "web",
    event: "test.array",
    outcome: "ok",
    detail: "NULL",
    message: "{1, 2}",
  });
  // COPY's own syntax inside values: tab, newline, carriage return, backslash, \N, end marker.
  const copySyntax = "a\tb\nc\r\\N\n\\.\n\\";
  log.record({
    door: "web",
    event: "test.copy",
    outcome: "ok",
    detail: copySyntax,
    message: "\\N",
    userEmail: "nul\0byte",
    compliance: { note: "tab\there" },
  });
  await log.flush();
  const rows = await t.svc.db.selectFrom("audit_log").selectAll()
    .where("event", "in", ["sql.query", "test.empty", "test.array", "test.copy"]).orderBy("id")
    .execute();
  assert.equal(rows.length, 4);
  const [full, empty, array, copy] = rows;
  assert.deepEqual(
    [copy.detail, copy.message, copy.user_email, copy.compliance],
    [copySyntax, "\\N", "nul\uFFFDbyte", { note: "tab\there" }],
  );
  assert.deepEqual([array.detail, array.message], ["NULL", "{1, 2}"]);
  assert.deepEqual(
    [
      full.door,
      full.outcome,
      full.user_id,
      full.user_email,
      full.credential_kind,
      full.credential_id,
      full.container_id,
      full.container_path,
      full.detail,
      full.rows,
      full.duration_ms,
      full.client_addr,
      full.message,
    ],
    [
      "sql",
      "ok",
      2,
      "a@example.org",
      "api_key",
      "k1",
      3,
      "/home/x",
      "select 'é', \\, \"q\"",
      7,
      1.25,
      "::1",
      "m",
    ],
  );
  assert.deepEqual(full.compliance, { irbNumber: "IRB-1", termsAccepted: true });
  assert.ok(full.at instanceof Date);
  assert.equal(empty.user_id, null);
  assert.equal(empty.compliance, null);
});

/** The database's sink, refusing the first `failures` writes as a database outage would. */
function flakySink(t: TestContext, failures: number) {
  const sink = {
    failures,
    calls: 0,
    copyIn(table: string, columns: readonly string[], rows: string): Promise<void> {
      sink.calls++;
      if (sink.failures-- > 0) return Promise.reject(new Error("database unavailable"));
      return t.svc.database.copyIn(table, columns, rows);
    },
  };
  return sink;
}

async function eventsOf(t: TestContext, prefix: string) {
  return (await t.svc.db.selectFrom("audit_log").select(["event", "rows"])
    .where("event", "like", `${prefix}%`).orderBy("id").execute());
}

backendTest(
  "flush() writes an entry whose numbers the table cannot hold, without them",
  async (t) => {
    const errors: unknown[] = [];
    const log = new AuditLog(t.svc.database, {
      flushMs: 100_000,
      onError: (error) => errors.push(error),
    });
    log.record({
      door: "web",
      event: "test.huge",
      outcome: "ok",
      rows: 2 ** 40,
      userId: -(2 ** 33),
    });
    log.record({ door: "web", event: "test.after", outcome: "ok", rows: 1 });
    await log.flush();
    assert.deepEqual(errors, []);
    assert.deepEqual(await eventsOf(t, "test."), [
      { event: "test.huge", rows: null },
      { event: "test.after", rows: 1 },
    ]);
  },
);

backendTest(
  "flush() keeps a batch the database refuses and retries it until it lands",
  async (t) => {
    const errors: unknown[] = [];
    const sink = flakySink(t, 2);
    const log = new AuditLog(sink, {
      flushMs: 100_000,
      retryMs: 10,
      onError: (e) => errors.push(e),
    });
    log.record({ door: "web", event: "test.kept", outcome: "ok", rows: 1 });
    await log.flush();
    assert.equal(log.failing, true);
    log.record({ door: "web", event: "test.kept", outcome: "ok", rows: 2 });
    for (let i = 0; i < 100 && log.failing; i++) await new Promise((r) => setTimeout(r, 10));
    await log.flush();
    assert.equal(log.failing, false);
    assert.equal(errors.length, 2);
    assert.deepEqual(await eventsOf(t, "test.kept"), [
      { event: "test.kept", rows: 1 },
      { event: "test.kept", rows: 2 },
    ]);
  },
);

backendTest(
  "recordDurably() fails while its entry cannot be written, and the entry lands later",
  async (t) => {
    const sink = flakySink(t, 1);
    const log = new AuditLog(sink, { flushMs: 100_000, retryMs: 10, onError: () => {} });
    await assert.rejects(
      log.recordDurably({ door: "sql", event: "test.login", outcome: "ok", rows: 1 }),
      /database unavailable/,
    );
    await log.recordDurably({ door: "sql", event: "test.login", outcome: "ok", rows: 2 });
    assert.deepEqual(await eventsOf(t, "test.login"), [
      { event: "test.login", rows: 1 },
      { event: "test.login", rows: 2 },
    ]);
  },
);

backendTest("flush() writes the entries of a batch the database refuses one by one", async (t) => {
  const log = new AuditLog(t.svc.database, { flushMs: 100_000, retryMs: 10, onError: () => {} });
  // JSON the database cannot store (a lone surrogate escape) must not take its batch down.
  log.record({ door: "web", event: "test.one", outcome: "ok", compliance: { note: "fine" } });
  log.record({ door: "web", event: "test.bad", outcome: "ok", compliance: { note: "\ud800" } });
  log.record({ door: "web", event: "test.two", outcome: "ok", rows: 2 });
  await log.flush();
  const rows = await t.svc.db.selectFrom("audit_log").select(["event", "compliance", "message"])
    .where("event", "like", "test.%").orderBy("id").execute();
  assert.deepEqual(rows.map((r) => r.event), ["test.one", "test.bad", "test.two"]);
  assert.equal(rows[1].compliance, null);
  assert.match(String(rows[1].message), /could not be stored as given/);
});

backendTest("record() keeps entries of any size and script until the flush", async (t) => {
  const log = new AuditLog(t.svc.database, { flushMs: 100_000 });
  // Each entry takes ~30 KB as UTF-8 (within the 16,000 characters kept of a detail), so the
  // queued rows outgrow their first buffer.
  const detail = (n: number) => `${n} ` + "ü😀".repeat(5_000);
  for (let n = 0; n < 20; n++) {
    log.record({ door: "web", event: "test.big", outcome: "ok", detail: detail(n) });
  }
  await log.flush();
  const rows = await t.svc.db.selectFrom("audit_log").select("detail")
    .where("event", "=", "test.big").orderBy("id").execute();
  assert.equal(rows.length, 20);
  // Not deepEqual: a failure would print megabytes.
  assert.ok(rows.every((row, n) => row.detail === detail(n)), "every entry written as given");
});

backendTest(
  "recordIn() stores what flush() stores, and rolls back with its transaction",
  async (t) => {
    const log = new AuditLog(t.svc.database, { flushMs: 100_000 });
    const entry = (event: string) => ({
      door: "api" as const,
      event,
      outcome: "ok" as const,
      userId: 2 ** 40, // more than the column holds: no value, both ways
      userEmail: "nul\0byte",
      credential: { kind: "api_key", id: "k1" },
      compliance: { note: "tab\there" },
      containerPath: "/home/x",
      detail: "x".repeat(20_000),
      rows: 3,
      durationMs: Infinity,
      message: "\\N",
    });
    log.record(entry("test.batched"));
    await log.flush();
    await t.svc.db.transaction().execute((trx) => log.recordIn(trx, entry("test.inline")));
    await assert.rejects(() =>
      t.svc.db.transaction().execute(async (trx) => {
        await log.recordIn(trx, entry("test.rolled_back"));
        throw new Error("the change failed");
      })
    );
    const rows = await t.svc.db.selectFrom("audit_log").selectAll().where("event", "like", "test.%")
      .orderBy("id").execute();
    assert.deepEqual(rows.map((r) => r.event), ["test.batched", "test.inline"]);
    const [batched, inline] = rows.map(({ id: _id, at: _at, event: _event, ...rest }) => rest);
    assert.deepEqual(inline, batched);
    assert.equal(batched.detail?.length, 16_000);
    assert.equal(batched.user_id, null);
  },
);
