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
  shadowFunctions,
  unphysical,
} from "./catalog_functions.ts";
import { FREE_SETTINGS, VISIBLE_SETTINGS } from "./policy.ts";

interface ShadowView {
  /** The FROM clause; the real relation as `t` unless given. */
  from?: string;
  /** The rows to keep (SQL over `t`); all when absent. */
  where?: string;
  /** Column expressions that differ from `t.<column>`. */
  columns?: Record<string, string>;
  /**
   * The namespace column of rows the user owns, for owner columns (which
   * otherwise read the bootstrap superuser, shown as postgres).
   */
  owned?: string;
  /**
   * What the user may do with the rows they own, as ACL letters ("r" for
   * SELECT). Their ACL column then reads `email=r/email` (text[]: an aclitem
   * can only name real roles; unquoted, as pgJDBC does not unquote), so
   * pgJDBC's getTablePrivileges and psql's \dp show read-only access. Other
   * ACLs are null.
   */
  grants?: string;
  /** Columns older clients read, appended when this engine lacks them. */
  compat?: Record<string, string>;
  /** No rows. */
  empty?: boolean;
}

const VISIBLE = "(select lg_catalog.visible_namespaces())::oid[]";
const namespace = (column: string) => `t.${column} = any(${VISIBLE})`;
const relation = (column: string) =>
  `t.${column} in (select c.oid from pg_catalog.pg_class c where c.relnamespace = any(${VISIBLE}))`;
const type = (column: string) =>
  `t.${column} in (select y.oid from pg_catalog.pg_type y where y.typnamespace = any(${VISIBLE}))`;
/**
 * A list column above the connection's PHI level (labgate.withheld, by the
 * key SQL `key` computes): the catalog leaves it out, as SQL reads the list
 * without it. The context is read once per query (an initplan).
 */
const notWithheld = (key: string) =>
  `((select lg_catalog.context('withheld')::jsonb) ->> (${key})) is null`;
const schemaNames = "t.schemaname = any((select lg_catalog.visible_schema_names())::name[])";
/** Views keyed by schema name: keep visible schemas, rename them, own the user's. */
const bySchema = (extra: Record<string, string> = {}, owner?: string): ShadowView => ({
  where: schemaNames,
  columns: {
    schemaname: "lg_catalog.schema_name(t.schemaname)",
    ...(owner ? { [owner]: "lg_catalog.owner_name(t.schemaname)" } : {}),
    ...extra,
  },
});
/**
 * Statistics views: the folder's own tables only. The catalogs' statistics
 * (histograms of pg_namespace.nspname and pg_class.relname, row counts)
 * would show every folder's schema and labgate's own tables.
 */
const userStatistics: ShadowView = {
  where: "t.schemaname = (select lg_catalog.folder_schema())",
  columns: { schemaname: "'lists'::name" },
};
/** A withheld column's statistics are its values (most common values, histograms). */
const columnStatistics: ShadowView = {
  ...userStatistics,
  where: `${userStatistics.where} and ${notWithheld("t.tablename || '.' || t.attname")}`,
};
/** A pg_class column's value for the user's own relations, `otherwise` for the rest. */
function userRelation(value: string, otherwise: string): string {
  return `case when t.relnamespace = any((select lg_catalog.user_namespaces())::oid[]) ` +
    `then ${value} else ${otherwise} end`;
}
/** Catalogs with nothing a reader may see: no row, and the real one is not read. */
const EMPTY: ShadowView = { empty: true };
const ALL: ShadowView = {};
const definition = (column: string) =>
  `case when t.schemaname = 'core' then null else lg_catalog.unphysical(t.${column}) end`;
const objects = (classColumn: string, objectColumn: string) =>
  `(t.${classColumn} = 'pg_catalog.pg_class'::regclass and ${relation(objectColumn)}) ` +
  `or (t.${classColumn} = 'pg_catalog.pg_namespace'::regclass and t.${objectColumn} = any(${VISIBLE})) ` +
  `or (t.${classColumn} not in ('pg_catalog.pg_class'::regclass, ` +
  `'pg_catalog.pg_namespace'::regclass) and t.${objectColumn} < 16384)`;

/** The pg_catalog relations clients may read, and how each is filtered. */
export const CATALOG_VIEWS: Readonly<Record<string, ShadowView>> = {
  pg_namespace: {
    where: "t.oid = any(" + VISIBLE + ")",
    columns: { nspname: "lg_catalog.schema_name(t.nspname)" },
    owned: "oid",
    grants: "U",
  },
  pg_class: {
    where: namespace("relnamespace"),
    owned: "relnamespace",
    grants: "r",
    // Sizes and row counts of the catalogs would count every folder's objects.
    columns: {
      reltuples: userRelation("t.reltuples", "-1"),
      relpages: userRelation("t.relpages", "0"),
      relallvisible: userRelation("t.relallvisible", "0"),
    },
  },
  pg_attribute: {
    where: `${relation("attrelid")} and ${
      notWithheld("t.attrelid::text || ':' || t.attnum::text")
    }`,
    columns: { attname: "lg_catalog.shown_column(t.attrelid, t.attnum, t.attname)" },
  },
  pg_type: { where: namespace("typnamespace"), owned: "typnamespace" },
  pg_proc: { where: namespace("pronamespace"), owned: "pronamespace" },
  pg_attrdef: {
    where: `${relation("adrelid")} and ${notWithheld("t.adrelid::text || ':' || t.adnum::text")}`,
  },
  pg_constraint: { where: namespace("connamespace") },
  pg_index: { where: relation("indrelid") },
  pg_inherits: { where: relation("inhrelid") },
  pg_trigger: { where: relation("tgrelid") },
  pg_policy: { where: relation("polrelid") },
  pg_rewrite: { where: "lg_catalog.definition_visible(t.ev_class)" },
  pg_sequence: { where: relation("seqrelid") },
  pg_partitioned_table: { where: relation("partrelid") },
  pg_statistic_ext: { where: relation("stxrelid"), owned: "stxnamespace" },
  pg_enum: { where: type("enumtypid") },
  pg_range: { where: type("rngtypid") },
  pg_collation: {
    where: namespace("collnamespace"),
    owned: "collnamespace",
    // psql 15 and 16 read colliculocale, which PostgreSQL 17 renamed (\dO).
    compat: { colliculocale: "t.colllocale" },
  },
  pg_conversion: { where: namespace("connamespace") },
  pg_operator: { where: namespace("oprnamespace") },
  pg_opclass: { where: namespace("opcnamespace") },
  pg_opfamily: { where: namespace("opfnamespace") },
  pg_ts_config: { where: namespace("cfgnamespace") },
  pg_ts_dict: { where: namespace("dictnamespace") },
  pg_ts_parser: { where: namespace("prsnamespace") },
  pg_ts_template: { where: namespace("tmplnamespace") },
  pg_extension: { where: namespace("extnamespace") },
  pg_description: {
    where: `(${objects("classoid", "objoid")}) and (t.objsubid = 0 or ${
      notWithheld("t.objoid::text || ':' || t.objsubid::text")
    })`,
  },
  pg_depend: { where: objects("classid", "objid") },
  pg_am: ALL,
  pg_amop: ALL,
  pg_amproc: ALL,
  pg_aggregate: ALL,
  pg_cast: ALL,
  pg_language: ALL,
  pg_tablespace: ALL,
  pg_transform: ALL,
  pg_ts_config_map: ALL,
  pg_timezone_abbrevs: ALL,
  pg_timezone_names: ALL,
  pg_auth_members: EMPTY,
  pg_publication: EMPTY,
  pg_publication_namespace: EMPTY,
  pg_publication_rel: EMPTY,
  pg_publication_tables: EMPTY,
  pg_event_trigger: EMPTY,
  pg_foreign_data_wrapper: EMPTY,
  pg_foreign_server: EMPTY,
  pg_foreign_table: EMPTY,
  pg_user_mappings: EMPTY,
  pg_default_acl: EMPTY,
  pg_shdescription: EMPTY,
  pg_shdepend: EMPTY,
  pg_seclabel: EMPTY,
  pg_shseclabel: EMPTY,
  pg_seclabels: EMPTY,
  pg_largeobject_metadata: EMPTY,
  pg_db_role_setting: EMPTY,
  pg_init_privs: EMPTY,
  pg_policies: EMPTY,
  pg_group: EMPTY,
  pg_subscription: EMPTY,
  pg_database: {
    from: "pg_catalog.pg_database t cross join pg_catalog.json_to_recordset(" +
      "lg_catalog.context('folders')::json) f(id integer, path text)",
    where: "t.datname = pg_catalog.current_database()",
    columns: {
      oid: "case when f.id::text = lg_catalog.context('folder_id') then t.oid " +
        "else (2147483648 + f.id)::oid end",
      datname: "f.path",
      datdba: "lg_catalog.user_oid()",
      datistemplate: "false",
      datallowconn: "true",
      datconnlimit: "-1",
    },
    // psql 15 and 16 read daticulocale, which PostgreSQL 17 renamed.
    compat: { daticulocale: "t.datlocale" },
  },
  // The user, and the bootstrap superuser that owns the catalogs as postgres
  // (pg_dump looks up the owner of every schema it reads).
  pg_roles: {
    where: "(t.rolname = current_user or t.oid = 10) and lg_catalog.user_oid() is not null",
    columns: {
      rolname: "case when t.oid = 10 then 'postgres'::name else lg_catalog.user_email() end",
      rolcanlogin: "true",
      rolpassword: "'********'",
      rolconfig: "null",
    },
  },
  pg_user: {
    from: "pg_catalog.pg_roles t",
    where: "t.rolname = current_user and lg_catalog.user_oid() is not null",
    columns: {
      usename: "lg_catalog.user_email()",
      usesysid: "t.oid",
      usecreatedb: "false",
      usesuper: "false",
      userepl: "false",
      usebypassrls: "false",
      passwd: "'********'",
      valuntil: "null",
      useconfig: "null",
    },
  },
  pg_settings: {
    where: "lg_catalog.setting_visible(t.name)",
    columns: {
      setting: "lg_catalog.setting_value(t.name, t.setting)",
      reset_val: "lg_catalog.setting_value(t.name, t.reset_val)",
      boot_val: "lg_catalog.setting_value(t.name, t.boot_val)",
      min_val: "lg_catalog.setting_value(t.name, t.min_val)",
      max_val: "lg_catalog.setting_value(t.name, t.max_val)",
      sourcefile: "null",
      sourceline: "null",
    },
  },
  pg_tables: bySchema({}, "tableowner"),
  pg_views: bySchema({ definition: definition("definition") }, "viewowner"),
  pg_matviews: bySchema({ definition: definition("definition") }, "matviewowner"),
  pg_indexes: bySchema({ indexdef: "lg_catalog.unphysical(t.indexdef)" }),
  pg_sequences: bySchema({}, "sequenceowner"),
  pg_stats: columnStatistics,
  pg_rules: {
    where: `${schemaNames} and t.schemaname <> 'core'`,
    columns: {
      schemaname: "lg_catalog.schema_name(t.schemaname)",
      definition: "lg_catalog.unphysical(t.definition)",
    },
  },
  pg_stat_user_tables: userStatistics,
  pg_stat_all_tables: userStatistics,
  pg_stat_user_indexes: userStatistics,
  pg_stat_all_indexes: userStatistics,
  pg_statio_user_tables: userStatistics,
  pg_statio_all_tables: userStatistics,
};

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

/**
 * Creates (or recreates) the shadow catalog and the core views. Runs in a
 * migration, as the app's database user; safe to run again after an engine
 * upgrade.
 */
// deno-lint-ignore no-explicit-any
export async function installShadowCatalog(db: Kysely<any>): Promise<void> {
  const run = async (statement: string) => void await sql.raw(statement).execute(db);
  for (const schema of ["lg_catalog", "lg_information_schema", "core"]) {
    await run(`drop schema if exists ${schema} cascade`);
    await run(`create schema ${schema}`);
  }
  const settings = (await sql<{ name: string }>`select name from pg_catalog.pg_settings`
    .execute(db)).rows.map((r) => r.name.toLowerCase());
  for (
    const statement of [
      ...helperFunctions([...VISIBLE_SETTINGS]),
      ...domains(),
      ...shadowFunctions(),
      ...resetProcedures(
        FREE_SETTINGS.filter((s) => settings.includes(s) && !s.startsWith("transaction_")),
      ),
    ]
  ) {
    await run(statement);
  }
  const catalog = await columns(db, "pg_catalog");
  for (const [name, view] of Object.entries(CATALOG_VIEWS)) {
    const real = catalog.get(name);
    if (real) await run(catalogView(name, real, view));
  }
  for (const [name, real] of await columns(db, "information_schema")) {
    if (!name.startsWith("_pg_")) await run(informationSchemaView(name, real));
  }
  for (const statement of CORE_VIEWS) await run(statement);
  await run("grant usage on schema lg_catalog, lg_information_schema, core to public");
  await run(
    "grant select on all tables in schema lg_catalog, lg_information_schema, core to public",
  );
  await run("grant execute on all routines in schema lg_catalog to public");
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
