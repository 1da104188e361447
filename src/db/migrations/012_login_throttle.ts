import { type Kysely, sql } from "kysely";

/**
 * Failed sign-ins were counted in each instance's memory, so N instances
 * allowed N times the guesses and a restart forgot them all. One row per key
 * (`account:`, `addr:`, `pair:` …) holds the count and the last failure.
 */
// deno-lint-ignore no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table if not exists lg_app.login_throttle (
    key text primary key,
    failures integer not null,
    last_failed_at timestamptz not null
  )`.execute(db);
}
