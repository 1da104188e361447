import { type Kysely, sql } from "kysely";

/** API keys and session keys: a short public id and the SHA-256 of the secret, never the key. */
const statements = [
  `create table lg_app.keys (
    id text primary key,
    kind text not null check (kind in ('api_key', 'session_key')),
    secret_hash text not null,
    user_id integer not null references lg_app.users(id) on delete cascade,
    session_id text references lg_app.sessions(id) on delete cascade,
    description text not null default '',
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz,
    revoked_by integer,
    check ((kind = 'session_key') = (session_id is not null))
  )`,
  `create index keys_user on lg_app.keys (user_id, created_at desc)`,
  `create index keys_session on lg_app.keys (session_id) where session_id is not null`,
];

// deno-lint-ignore no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}
