/**
 * The pg_catalog relations the shadow catalog shows, and how each is
 * filtered: the rows of pg_catalog, information_schema and the connected
 * folder only, owners and ACLs as the user, statistics of the folder's own
 * tables, and nothing of the columns above the connection's PHI level.
 * catalog.ts makes the views.
 */

/** How one catalog relation is shown. */
export interface ShadowView {
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
export const notWithheld = (key: string) =>
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
