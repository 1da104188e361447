import { type Kysely, sql } from "kysely";

/**
 * PHI levels: each list column has one (who may see it), an API key carries
 * the level chosen when it was made, and an external app's tokens and
 * accounts get the level its settings give. Session levels stay in the
 * session's compliance declarations.
 */
const LEVELS = `('not_phi', 'limited', 'full')`;
const statements = [
  `alter table lg_app.list_columns add column if not exists phi text not null default 'not_phi'
    check (phi in ('not_phi', 'limited', 'full', 'restricted'))`,
  `alter table lg_app.keys add column if not exists phi_level text check (phi_level in ${LEVELS})`,
  `alter table lg_app.external_apps add column if not exists phi_level text not null
    default 'not_phi' check (phi_level in ${LEVELS})`,
];

// deno-lint-ignore no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}
