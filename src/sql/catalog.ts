/**
 * The shadow catalog: schemas `lg_catalog` and `lg_information_schema` with
 * views named like the catalog relations clients read, and `core` with
 * the user-facing core views. Each shadow view has its relation's columns in
 * the same order (read from pg_attribute here, so it fits the engine it is
 * installed on), keeps the rows of pg_catalog, information_schema and the
 * connected folder only, and shows the folder's schema as `lists`.
 * Per-user answers read the `labgate.*` settings of the session.
 */
import { type Kysely, sql } from "kysely";
import {
  domains,
  helperFunctions,
  resetProcedures,
  roleName,
  schemaName,
  unphysical,
} from "./catalog_functions.ts";
import { shadowFunctions } from "./catalog_shadows.ts";
import { CATALOG_VIEWS, notWithheld, type ShadowView } from "./catalog_views.ts";
import { FREE_SETTINGS, VISIBLE_SETTINGS } from "./policy.ts";

/** information_schema columns that name roles. */
const ROLE_COLUMNS = new Set([
  "grantor",
  "grantee",
  "role_name",
  "schema_owner",
  "authorization_identifier",
]);

/** information_schema columns holding SQL text that may name the folder's schema. */
const DEFINITION_COLUMNS = new Set([
  "view_definition",
  "routine_definition",
  "check_clause",
  "column_default",
  "generation_expression",
  "action_statement",
  "action_condition",
  "domain_default",
  "attribute_default",
  "parameter_default",
]);

interface Column {
  relation: string;
  name: string;
  type: string;
  /** The relation's relkind: 'r' for catalog tables, 'v' for views. */
  kind: string;
}

/** Held while the catalog is checked and installed: instances starting together take turns. */
const INSTALL_LOCK = 0x6c67_6361; // "lgca"

/** What the comment on schema lg_catalog starts with; the rest is the installed version. */
const VERSION_MARK = "labgate shadow catalog ";

/**
 * Installs the shadow catalog and the core views unless the ones installed
 * are this version's, made for this engine. Runs at every start, after the
 * migrations (`assembleServices()`), as the app's database user: a new
 * database gets the catalog, one whose catalog an older labgate (or an
 * older engine) made gets it again, and any other start only compares. The
 * version is a digest of every statement that makes the catalog (which reads
 * the engine's own catalogs, so an engine upgrade changes it too), kept as
 * the comment on schema lg_catalog. True when it installed.
 */
// deno-lint-ignore no-explicit-any
export async function ensureShadowCatalog(root: Kysely<any>): Promise<boolean> {
  return await root.transaction().execute(async (trx) => {
    await sql`select pg_catalog.pg_advisory_xact_lock(${INSTALL_LOCK})`.execute(trx);
    const statements = await catalogStatements(trx);
    const version = await digest(statements.join(";\n"));
    const { rows } = await sql<{ mark: string | null }>`
      select pg_catalog.obj_description(n.oid, 'pg_namespace') as mark
      from pg_catalog.pg_namespace n where n.nspname = 'lg_catalog'`.execute(trx);
    if (rows[0]?.mark === VERSION_MARK + version) return false;
    for (const statement of statements) await sql.raw(statement).execute(trx);
    await sql.raw(`comment on schema lg_catalog is '${VERSION_MARK}${version}'`).execute(trx);
    return true;
  });
}

/** Every statement that makes the catalog on this engine, in order. */
// deno-lint-ignore no-explicit-any
async function catalogStatements(db: Kysely<any>): Promise<string[]> {
  const statements: string[] = [];
  for (const schema of ["lg_catalog", "lg_information_schema", "core"]) {
    statements.push(`drop schema if exists ${schema} cascade`, `create schema ${schema}`);
  }
  const settings = (await sql<{ name: string }>`select name from pg_catalog.pg_settings`
    .execute(db)).rows.map((r) => r.name.toLowerCase());
  statements.push(
    ...helperFunctions([...VISIBLE_SETTINGS]),
    ...domains(),
    ...shadowFunctions(),
    ...resetProcedures(
      FREE_SETTINGS.filter((s) => settings.includes(s) && !s.startsWith("transaction_")),
    ),
  );
  const catalog = await columns(db, "pg_catalog");
  for (const [name, view] of Object.entries(CATALOG_VIEWS)) {
    const real = catalog.get(name);
    if (real) statements.push(catalogView(name, real, view));
  }
  for (const [name, real] of await columns(db, "information_schema")) {
    if (!name.startsWith("_pg_")) statements.push(informationSchemaView(name, real));
  }
  statements.push(
    ...CORE_VIEWS,
    "grant usage on schema lg_catalog, lg_information_schema, core to public",
    "grant select on all tables in schema lg_catalog, lg_information_schema, core to public",
    "grant execute on all routines in schema lg_catalog to public",
  );
  return statements;
}

/** A short hex digest of `text` (SHA-256, first 16 bytes). */
async function digest(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(hash).slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

/** The columns of a schema's tables and views, in order. */
// deno-lint-ignore no-explicit-any
async function columns(db: Kysely<any>, schema: string): Promise<Map<string, Column[]>> {
  const { rows } = await sql<Column>`
    select c.relname as relation, a.attname as name,
      pg_catalog.format_type(a.atttypid, a.atttypmod) as type, c.relkind as kind
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relkind in ('r', 'v') and a.attnum > 0
      and not a.attisdropped
    order by c.relname, a.attnum`.execute(db);
  const byRelation = new Map<string, Column[]>();
  for (const row of rows) {
    const list = byRelation.get(row.relation) ?? [];
    list.push(row);
    byRelation.set(row.relation, list);
  }
  return byRelation;
}

function catalogView(name: string, real: Column[], view: ShadowView): string {
  const owns = `t.${view.owned} = any((select lg_catalog.user_namespaces())::oid[])`;
  const owner = view.owned
    ? `case when ${owns} then (select lg_catalog.user_oid()) else 10::oid end`
    : "10::oid";
  const user = "lg_catalog.user_email()";
  const acl = view.owned && view.grants
    ? `case when ${owns} then array[${user} || '=${view.grants}/' || ${user}] end`
    : undefined;
  if (view.empty) {
    const nulls = real.map((c) =>
      `null::${c.type === "anyarray" ? "text" : c.type} as ${quote(c.name)}`
    );
    if (real[0].kind === "r") nulls.push(tableoid(name));
    return `create view lg_catalog.${name} as select ${nulls.join(", ")} where false`;
  }
  const select = real.map((column) => {
    if (column.type === "aclitem[]" && acl) return `(${acl})::text[] as ${quote(column.name)}`;
    const expression = view.columns?.[column.name] ??
      (column.type === "aclitem[]"
        ? "null"
        : column.type === "oid" && column.name.endsWith("owner")
        ? owner
        : undefined);
    if (column.type === "anyarray") {
      // PostgreSQL 15 cannot create views with pseudo-type columns: show the text.
      return `t.${quote(column.name)}::text as ${quote(column.name)}`;
    }
    return expression === undefined
      ? `t.${quote(column.name)}`
      : `(${expression})::${column.type} as ${quote(column.name)}`;
  });
  for (const [column, expression] of Object.entries(view.compat ?? {})) {
    if (!real.some((c) => c.name === column)) select.push(`${expression} as ${quote(column)}`);
  }
  if (real[0].kind === "r") select.push(tableoid(name));
  return `create view lg_catalog.${name} as select ${select.join(", ")} ` +
    `from ${view.from ?? `pg_catalog.${name} t`} where ${view.where ?? "true"}`;
}

/**
 * Views have no system columns, but psql's `\dd` and `\dL` join catalog tables
 * on `tableoid` (to match pg_description.classoid): shadows of catalog tables
 * get it as their last column, with the real catalog's OID.
 */
function tableoid(name: string): string {
  return `'pg_catalog.${name}'::pg_catalog.regclass::pg_catalog.oid as tableoid`;
}

/**
 * information_schema views by their column names: catalogs read the folder's
 * path, schemas are kept when visible and renamed, roles read the user.
 */
function informationSchemaView(name: string, real: Column[]): string {
  // Per-session values as initplans: computed once, not per row and column.
  const folderSchema = "(select lg_catalog.folder_schema())";
  const filters: string[] = [];
  const hasTable = real.some((c) => c.name === "table_name") &&
    real.some((c) => c.name === "table_schema");
  if (hasTable && real.some((c) => c.name === "column_name")) {
    filters.push(
      `(t.table_schema::name <> ${folderSchema} or ${
        notWithheld("t.table_name::text || '.' || t.column_name::text")
      })`,
    );
  }
  const select = real.map((column) => {
    const c = `t.${quote(column.name)}`;
    let expression: string | undefined;
    if (column.name.endsWith("_catalog") || column.name === "catalog_name") {
      expression =
        `case when ${c} is null then null else (select lg_catalog.current_database()) end`;
    } else if (column.name.endsWith("_schema") || column.name === "schema_name") {
      expression = schemaName(`${c}::name`, folderSchema);
      filters.push(
        `(${c} is null or ${c}::name = any((select lg_catalog.visible_schema_names())::name[]))`,
      );
    } else if (ROLE_COLUMNS.has(column.name)) {
      expression = roleName(`${c}::name`, "(select lg_catalog.user_email())");
    } else if (DEFINITION_COLUMNS.has(column.name)) {
      expression = unphysical(`${c}::text`, folderSchema);
    } else if (column.name === "sql_path") {
      expression = "null";
    } else if (column.name === "column_name" && hasTable) {
      // A list column defined with capitals, as defined (see lg_catalog.shown_column).
      expression = `coalesce(case when t.table_schema::name = ${folderSchema} then ` +
        `(select lg_catalog.context('columns')::jsonb) ->> (t.table_name || '.' || ${c}) end, ${c})`;
    }
    return expression === undefined
      ? c
      : `(${expression})::${column.type} as ${quote(column.name)}`;
  });
  return `create view lg_information_schema.${name} as select ${select.join(", ")} ` +
    `from information_schema.${name} t where ${filters.join(" and ") || "true"}`;
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/**
 * core.containers: the folders the user can read. core.users: the user and
 * the active users who hold a role, directly or through a group, on one of
 * those folders.
 */
const CORE_VIEWS = [
  `create function lg_catalog.readable_folders() returns integer[] language sql stable as $body$
    select coalesce(pg_catalog.array_agg(f.id), '{}')
    from pg_catalog.json_to_recordset(lg_catalog.context('folders')::json) f(id integer) $body$`,
  `create view core.containers as
    select c.id, c.name, c.path,
      case when c.parent_id = any(lg_catalog.readable_folders()) then c.parent_id end as parent_id,
      c.description, c.created_at
    from lg_app.containers c
    where c.id = any(lg_catalog.readable_folders())`,
  `create view core.users as
    select u.id, u.email, u.display_name, u.department
    from lg_app.users u
    where u.active and u.user_type = 'normal' and (
      u.id::text = lg_catalog.context('user_id')
      or exists (
        select 1 from lg_app.role_assignments ra
        where ra.container_id = any(lg_catalog.readable_folders())
          and (ra.principal_id = u.id or ra.principal_id in (
            select gm.group_id from lg_app.group_members gm where gm.user_id = u.id))))`,
];
