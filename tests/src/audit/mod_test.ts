import assert from "node:assert/strict";
import { backendTest } from "../../_support/backends.ts";
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

backendTest("flush() reports a batch the database refuses and writes the next one", async (t) => {
  const errors: unknown[] = [];
  const log = new AuditLog(t.svc.database, {
    flushMs: 100_000,
    onError: (error) => errors.push(error),
  });
  log.record({ door: "web", event: "test.refused", outcome: "ok", rows: 2 ** 40 });
  await log.flush();
  assert.equal(errors.length, 1);
  assert.match(String((errors[0] as Error).message), /out of range/);
  for (let i = 0; i < 3; i++) {
    log.record({ door: "web", event: "test.after", outcome: "ok", rows: i });
    await log.flush();
  }
  const rows = await t.svc.db.selectFrom("audit_log").select(["event", "rows"])
    .where("event", "in", ["test.refused", "test.after"]).orderBy("id").execute();
  assert.deepEqual(rows, [0, 1, 2].map((rows) => ({ event: "test.after", rows })));
  assert.equal(errors.length, 1);
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
