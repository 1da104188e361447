import assert from "node:assert/strict";
import { eventually, refuseAuditWrites } from "../_support/audit.ts";
import { backendTest } from "../_support/backends.ts";
import { query } from "../../wire/protocol/messages.ts";
import { errorOf, RawClient } from "./_client.ts";
import { ALICE, FOLDER, openDoor } from "./_door.ts";

const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

backendTest(
  "Session refuses logins and ends sessions while the audit log cannot be written; nothing is lost",
  async (t) => {
    await using fx = await openDoor(t);
    await using early = await RawClient.connect(fx.port, login);
    const allow = await refuseAuditWrites(t);
    early.send(query("select 'recorded later'"));
    await early.until();
    await eventually(() => t.svc.audit.failing);
    early.send(query("select 2"));
    const ended = await early.closedByServer();
    const fatal = ended.find((m) => m.type === "E");
    assert.ok(fatal, "a FATAL error");
    assert.match(errorOf(fatal).message, /audit log/i);
    await assert.rejects(RawClient.connect(fx.port, login), /audit log/i);
    await allow();
    await eventually(() => !t.svc.audit.failing);
    await t.svc.audit.flush();
    const entries = await t.svc.db.selectFrom("audit_log").select(["event", "outcome", "detail"])
      .where("door", "=", "sql").orderBy("id").execute();
    assert.ok(entries.some((e) => e.detail === "select 'recorded later'"), "the statement");
    assert.equal(entries.filter((e) => e.event === "login" && e.outcome === "ok").length, 2);
    assert.ok(entries.some((e) => e.event === "login" && e.outcome === "error"), "the refusal");
  },
);
