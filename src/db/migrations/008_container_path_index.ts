import { type Kysely, sql } from "kysely";

/**
 * Folders are looked up by path, case-insensitively, on every request that
 * names one (LabKey URLs, remote-login verification, SQL door logins);
 * without this index each lookup reads the whole folders table.
 */
// deno-lint-ignore no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create unique index if not exists containers_lower_path
    on lg_app.containers (lower(path))`.execute(db);
}
