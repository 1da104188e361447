/** Making the database refuse audit entries, as a full disk or a lost table would. */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type { TestContext } from "./backends.ts";

/** Installs a trigger that refuses every audit entry; resolves to what removes it. */
export async function refuseAuditWrites(t: TestContext): Promise<() => Promise<void>> {
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

/** Waits up to 5 s for `condition`. */
export async function eventually(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), "in time");
}
