import { type Kysely, sql } from "kysely";

/**
 * The audit log is read newest first by id (the admin page and
 * GET /api/audit), which the primary key serves; nothing reads it by time or
 * by user id. Those two indexes only made every write dearer, and the SQL
 * door writes an entry for every statement: about a third of the cost of
 * each entry.
 */
// deno-lint-ignore no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists lg_app.audit_log_at`.execute(db);
  await sql`drop index if exists lg_app.audit_log_user`.execute(db);
}
