import { type Kysely, sql } from "kysely";

/** External apps and their auth tokens (token door). */
const statements = [
  `create table lg_app.external_apps (
    id text primary key,
    description text not null default '',
    status text not null default 'active' check (status in ('active', 'disabled')),
    entry_rest boolean not null default false,
    entry_sql boolean not null default false,
    entry_action boolean not null default false,
    rest_read_only boolean not null default false,
    rest_paths jsonb not null default '[]',
    default_expiry_days integer not null default 90 check (default_expiry_days between 1 and 3650),
    built_in boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `insert into lg_app.external_apps
    (id, description, entry_rest, entry_action, rest_paths, default_expiry_days, built_in)
    values ('instrument-collector', 'Instrument data collectors that insert rows into lists',
      true, true, '[]', 365, true)`,
  `insert into lg_app.external_apps
    (id, description, entry_rest, entry_sql, rest_read_only, default_expiry_days, built_in)
    values ('remote-sync', 'Remote labgate instances that read data to stay in sync',
      true, true, true, 90, true)`,
  `create table lg_app.auth_tokens (
    id text primary key,
    secret_hash text not null,
    app_id text not null references lg_app.external_apps(id),
    app_user_id integer not null references lg_app.users(id) on delete cascade,
    description text not null default '',
    request_reason text not null default '',
    status text not null check (status in ('pending', 'disabled', 'active', 'expired')),
    expires_at timestamptz not null,
    process_as text not null default 'never'
      check (process_as in ('never', 'any', 'specific', 'department', 'role')),
    process_as_target text,
    permitted text not null default 'full' check (permitted in ('full', 'restricted', 'roles')),
    permitted_list jsonb not null default '[]',
    created_at timestamptz not null default now(),
    created_by integer,
    last_used_at timestamptz
  )`,
  `create index auth_tokens_app on lg_app.auth_tokens (app_id)`,
];

// deno-lint-ignore no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}
