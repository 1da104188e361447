import { type Kysely, sql } from "kysely";

/**
 * A user's and an API key's own statement time limit, set by an admin: in
 * place of the site's (the sql_door setting statementTimeoutSeconds) for
 * the SQL door and the HTTP doors' queries. Null: the site's applies.
 */
const statements = [
  `alter table lg_app.users add column if not exists statement_timeout_seconds integer
    check (statement_timeout_seconds between 1 and 86400)`,
  `alter table lg_app.keys add column if not exists statement_timeout_seconds integer
    check (statement_timeout_seconds between 1 and 86400)`,
];

// deno-lint-ignore no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}
