import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest, type TestContext } from "../_support/backends.ts";
import { query } from "../../wire/messages.ts";
import { errorOf, RawClient } from "./_client.ts";
import { ALICE, FOLDER, openDoor } from "./_door.ts";

const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

/** Makes the database refuse every audit entry, as a full disk or a lost table would. */
async function refuseAuditWrites(t: TestContext): Promise<() => Promise<void>> {
  const root = t.svc.database.root;
  await sql.raw(`create function lg_app.refuse_audit() returns trigger language plpgsql as
    $$ begin raise exception 'audit refused by the test'; end $$`).execute(root);
  await sql.raw(`create trigger refuse_audit before insert on lg_app.audit_log
    for each row execute function lg_app.refuse_audit()`).execute(root);
  return async () => {
    await sql.raw("drop trigger refuse_audit on lg_app.audit_log").execute(root);
    await sql.raw("drop function lg_app.refuse_audit()").execute(root);
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), "in time");
}

backendTest(
  "Session refuses logins and ends sessions while the audit log cannot be written; nothing is lost",
  async (t) => {
    await using fx = await openDoor(t);
    await using early = await RawClient.connect(fx.port, login);
    const allow = await refuseAuditWrites(t);
    early.send(query("select 'recorded later'"));
    await early.until();
    await until(() => t.svc.audit.failing);
    early.send(query("select 2"));
    const ended = await early.closedByServer();
    const fatal = ended.find((m) => m.type === "E");
    assert.ok(fatal, "a FATAL error");
    assert.match(errorOf(fatal).message, /audit log/i);
    await assert.rejects(RawClient.connect(fx.port, login), /audit log/i);
    await allow();
    await until(() => !t.svc.audit.failing);
    await t.svc.audit.flush();
    const entries = await t.svc.db.selectFrom("audit_log").select(["event", "outcome", "detail"])
      .where("door", "=", "sql").orderBy("id").execute();
    assert.ok(entries.some((e) => e.detail === "select 'recorded later'"), "the statement");
    assert.equal(entries.filter((e) => e.event === "login" && e.outcome === "ok").length, 2);
    assert.ok(entries.some((e) => e.event === "login" && e.outcome === "error"), "the refusal");
  },
);
