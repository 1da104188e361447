/**
 * The functions of the shadow catalog, in creation order: the per-session
 * context the gateway sets, visibility tests, the checking domains for reg
 * types, and same-named wrappers for the catalog functions the analyzer
 * redirects (see SHADOWED_FUNCTIONS). Every body names its schemas: the
 * sandbox's search path does not contain lg_catalog.
 */
import {
  FREE_SETTINGS,
  MAX_SLEEP_SECONDS,
  SEARCH_PATH_NAMES,
  SERVER_VERSION_SUFFIX,
  TRUE_WORDS,
} from "./policy.ts";

/** A function body in SQL, stable, invoker's rights. */
function sql(signature: string, returns: string, body: string): string {
  return `create function lg_catalog.${signature} returns ${returns} language sql stable as $body$ ${body} $body$`;
}

function plpgsql(signature: string, returns: string, body: string, volatility = "stable"): string {
  return `create function lg_catalog.${signature} returns ${returns} language plpgsql ${volatility} as $body$ ${body} $body$`;
}

const VISIBLE = "(select lg_catalog.visible_namespaces())::oid[]";

const FOLDER_SCHEMA = "lg_catalog.folder_schema()";

/*
 * The bodies of schema_name(), role_name() and unphysical(), as expressions
 * of a name and the per-session values they read. Views over many rows
 * (information_schema.columns) use them with those values as initplans,
 * computed once per query instead of once per row and column.
 */

/** The folder's schema shown as lists. */
export function schemaName(name: string, folderSchema: string): string {
  return `case when ${name} = ${folderSchema} then 'lists'::name else ${name} end`;
}

/** The session's role shown as the user, any other but PUBLIC as postgres. */
export function roleName(name: string, userEmail: string): string {
  return `case when ${name} = current_user then ${userEmail} ` +
    `when ${name} = 'PUBLIC' then ${name} else 'postgres'::name end`;
}

/** Definitions with the folder's schema written as lists. */
export function unphysical(text: string, folderSchema: string): string {
  return `pg_catalog.replace(${text}, ${folderSchema} || '.', 'lists.')`;
}

/** Context, names and visibility. */
export function helperFunctions(visibleSettings: readonly string[]): string[] {
  const settings = visibleSettings.map((s) => `'${s}'`).join(", ");
  return [
    sql(
      "context(name text)",
      "text",
      "select nullif(pg_catalog.current_setting('labgate.' || name, true), '')",
    ),
    sql("folder_schema()", "name", "select ('lg_c' || lg_catalog.context('folder_id'))::name"),
    sql("folder_path()", "name", "select lg_catalog.context('folder_path')::name"),
    sql("user_email()", "name", "select lg_catalog.context('user_email')::name"),
    sql(
      "user_oid()",
      "oid",
      "select r.oid from pg_catalog.pg_roles r where r.rolname = current_user " +
        "and lg_catalog.context('folder_id') is not null",
    ),
    sql(
      "user_namespaces()",
      "oid[]",
      "select coalesce(pg_catalog.array_agg(n.oid), '{}') from pg_catalog.pg_namespace n " +
        "where lg_catalog.folder_schema() is not null " +
        "and n.nspname in (lg_catalog.folder_schema(), 'core')",
    ),
    sql(
      "visible_namespaces()",
      "oid[]",
      "select pg_catalog.array_agg(n.oid) from pg_catalog.pg_namespace n " +
        "where n.nspname in ('pg_catalog', 'information_schema') " +
        "or n.oid = any(lg_catalog.user_namespaces())",
    ),
    sql(
      "visible_schema_names()",
      "name[]",
      "select pg_catalog.array_agg(n.nspname) from pg_catalog.pg_namespace n " +
        "where n.oid = any(lg_catalog.visible_namespaces())",
    ),
    sql("schema_name(name)", "name", `select ${schemaName("$1", FOLDER_SCHEMA)}`),
    // A list column defined with capitals, stored lower case: its name as defined
    // (labgate.columns, by table OID and column number; empty for most folders).
    sql(
      "shown_column(oid, smallint, name)",
      "name",
      "select coalesce((lg_catalog.context('columns')::jsonb ->> ($1::text || ':' || $2::text))" +
        "::name, $3)",
    ),
    sql(
      "owner_name(schema name)",
      "name",
      "select case when schema in (lg_catalog.folder_schema(), 'core') " +
        "then lg_catalog.user_email() else 'postgres'::name end",
    ),
    sql("role_name(name)", "name", `select ${roleName("$1", "lg_catalog.user_email()")}`),
    sql("unphysical(text)", "text", `select ${unphysical("$1", FOLDER_SCHEMA)}`),
    // The engine's major version only: its catalog is what clients adapt their
    // queries to; the minor version and build would describe the host.
    sql(
      "server_major()",
      "integer",
      "select pg_catalog.current_setting('server_version_num')::integer / 10000",
    ),
    sql(
      "setting_value(name text, value text)",
      "text",
      "select case pg_catalog.lower(name) when 'search_path' then 'lists' " +
        "when 'is_superuser' then 'off' when 'role' then 'none' " +
        "when 'session_authorization' then lg_catalog.user_email()::text " +
        `when 'server_version' then lg_catalog.server_major() || '${SERVER_VERSION_SUFFIX}' ` +
        "when 'server_version_num' then (lg_catalog.server_major() * 10000)::text " +
        "else value end",
    ),
    sql(
      "setting_visible(name text)",
      "boolean",
      `select pg_catalog.lower(name) = any(array[${settings}])`,
    ),
    ...[
      ["relation", "pg_class", "relnamespace"],
      ["type", "pg_type", "typnamespace"],
      ["function", "pg_proc", "pronamespace"],
      ["constraint", "pg_constraint", "connamespace"],
    ].map(([object, catalog, namespace]) =>
      sql(
        `${object}_visible(oid)`,
        "boolean",
        `select exists (select 1 from pg_catalog.${catalog} o where o.oid = $1 ` +
          `and o.${namespace} = any(${VISIBLE}))`,
      )
    ),
    sql(
      "definition_visible(oid)",
      "boolean",
      "select lg_catalog.relation_visible($1) and not exists (select 1 from pg_catalog.pg_class c " +
        "where c.oid = $1 and c.relnamespace = 'core'::regnamespace)",
    ),
    sql(
      "statistics_visible(oid)",
      "boolean",
      "select exists (select 1 from pg_catalog.pg_statistic_ext s where s.oid = $1 " +
        "and lg_catalog.relation_visible(s.stxrelid))",
    ),
    sql(
      "object_visible(classid oid, objid oid)",
      "boolean",
      "select case classid " +
        "when 'pg_catalog.pg_class'::regclass then lg_catalog.relation_visible(objid) " +
        `when 'pg_catalog.pg_namespace'::regclass then objid = any(${VISIBLE}) ` +
        "when 'pg_catalog.pg_type'::regclass then lg_catalog.type_visible(objid) " +
        "when 'pg_catalog.pg_proc'::regclass then lg_catalog.function_visible(objid) " +
        "when 'pg_catalog.pg_constraint'::regclass then lg_catalog.constraint_visible(objid) " +
        "else objid < 16384 end",
    ),
    // A relation named (or given by OID) in a text argument, as the client
    // sees names: null if it does not exist or the user cannot see it.
    plpgsql(
      "find_relation(text)",
      "oid",
      `declare
        parts text[];
        found oid;
      begin
        if $1 operator(pg_catalog.~) '^[0-9]+$' then
          found := $1::oid;
        else
          parts := pg_catalog.parse_ident($1);
        end if;
        if pg_catalog.array_length(parts, 1) = 2 then
          parts[1] := case parts[1] when 'lists' then lg_catalog.folder_schema()
            when 'core' then 'core' when 'pg_catalog' then 'pg_catalog'
            when 'information_schema' then 'information_schema' end;
          if parts[1] is null then return null; end if;
          found := pg_catalog.to_regclass(pg_catalog.quote_ident(parts[1]) || '.' ||
            pg_catalog.quote_ident(parts[2]));
        elsif pg_catalog.array_length(parts, 1) = 1 then
          found := pg_catalog.to_regclass(pg_catalog.quote_ident(parts[1]));
        end if;
        return case when lg_catalog.relation_visible(found) then found end;
      end`,
    ),
    plpgsql(
      "namespace_named(text)",
      "oid",
      `declare found oid := case $1 when 'lists' then lg_catalog.folder_schema()::regnamespace
          when 'core' then 'core'::regnamespace when 'pg_catalog' then 'pg_catalog'::regnamespace
          when 'information_schema' then 'information_schema'::regnamespace end;
      begin
        if found is null then
          raise exception using errcode = '3F000',
            message = pg_catalog.format('schema "%s" does not exist', $1);
        end if;
        return found;
      end`,
    ),
    plpgsql(
      "relation_named(text)",
      "oid",
      `declare found oid := lg_catalog.find_relation($1);
      begin
        if found is null then
          raise exception using errcode = '42P01',
            message = pg_catalog.format('relation "%s" does not exist', $1);
        end if;
        return found;
      end`,
    ),
  ];
}

/**
 * set_config() for the settings a client may SET, with SET's limits (see
 * the analyzer's `set`): pg_dump and other clients set their session this
 * way. The search path always becomes the sandbox's; a statement timeout of
 * 0 ("none") becomes the door's longest. Answers what current_setting()
 * then shows.
 */
function setConfig(): string {
  const list = (names: readonly string[]) => names.map((n) => `'${n}'`).join(", ");
  return plpgsql(
    "set_config(text, text, boolean)",
    "text",
    `declare
      setting_name text := pg_catalog.lower($1);
      new_value text := $2;
      longest bigint := lg_catalog.context('statement_timeout')::bigint;
    begin
      if setting_name = 'search_path' then
        if exists (select 1 from pg_catalog.unnest(pg_catalog.string_to_array(new_value, ',')) p
            where pg_catalog.btrim(pg_catalog.btrim(p), '"') <> all(array[${
      list(SEARCH_PATH_NAMES)
    }, ''])) then
          raise exception using errcode = '42501',
            message = 'The search path can only name lists and pg_catalog in the SQL door';
        end if;
        new_value := 'pg_catalog, ' || pg_catalog.quote_ident(lg_catalog.folder_schema());
      elsif setting_name = 'client_encoding' then
        if pg_catalog.upper(pg_catalog.replace(pg_catalog.replace(new_value, '-', ''), '_', ''))
            not in ('UTF8', 'UNICODE') then
          raise exception using errcode = '0A000',
            message = pg_catalog.format('Client encoding %s is not supported by the SQL door', new_value);
        end if;
      elsif setting_name in ('standard_conforming_strings', 'default_transaction_read_only',
          'transaction_read_only') then
        if pg_catalog.lower(new_value) <> all(array[${list([...TRUE_WORDS])}]) then
          raise exception using errcode = '42501',
            message = pg_catalog.format('Setting %s must stay on in the SQL door', $1);
        end if;
      elsif setting_name = 'statement_timeout' then
        perform pg_catalog.set_config(setting_name, new_value, $3);
        if (select s.setting::bigint from pg_catalog.pg_settings s where s.name = setting_name)
            not between 0 and longest then
          raise exception using errcode = '42501', message = pg_catalog.format(
            'The statement timeout can only be lowered, to at most %s ms', longest);
        end if;
        if (select s.setting::bigint from pg_catalog.pg_settings s where s.name = setting_name) = 0 then
          new_value := longest::text;
        end if;
      elsif setting_name <> all(array[${list(FREE_SETTINGS)}]) then
        raise exception using errcode = '42501',
          message = pg_catalog.format('Setting %s cannot be changed through the SQL door', $1);
      end if;
      perform pg_catalog.set_config(setting_name, new_value, $3);
      return lg_catalog.current_setting(setting_name);
    end`,
    "volatile",
  );
}

/** Checking domains: casts to reg types of objects the user cannot see fail. */
export function domains(): string[] {
  const check = (name: string, test: string, code: string, message: string) =>
    plpgsql(
      `${name}(oid)`,
      "boolean",
      `begin
        if $1 is null or $1 = 0 or ${test} then return true; end if;
        raise exception using errcode = '${code}', message = pg_catalog.format(${message}, $1);
      end`,
    );
  return [
    check(
      "check_relation",
      "lg_catalog.relation_visible($1)",
      "42P01",
      "'relation with OID %s does not exist'",
    ),
    check(
      "check_type",
      "lg_catalog.type_visible($1)",
      "42704",
      "'type with OID %s does not exist'",
    ),
    check(
      "check_function",
      "lg_catalog.function_visible($1)",
      "42883",
      "'function with OID %s does not exist'",
    ),
    // regnamespace would print the folder's physical schema: refuse it too.
    plpgsql(
      "check_namespace(oid)",
      "boolean",
      `begin
        if $1 is null or $1 = 0 or $1 in ('pg_catalog'::regnamespace,
          'information_schema'::regnamespace, 'core'::regnamespace) then return true; end if;
        if $1 = any(lg_catalog.user_namespaces()) then
          raise exception using errcode = '42501',
            message = 'The lists schema cannot be shown as regnamespace through the SQL door',
            hint = 'Join pg_namespace and read nspname';
        end if;
        raise exception using errcode = '3F000',
          message = pg_catalog.format('schema with OID %s does not exist', $1);
      end`,
    ),
    ...[
      ["regclass", "check_relation"],
      ["regtype", "check_type"],
      ["regproc", "check_function"],
      ["regprocedure", "check_function"],
    ].map(([type, check]) =>
      // Built-in objects (OIDs below 16384) are always visible: no lookup.
      `create domain lg_catalog.${type} as pg_catalog.${type} ` +
      `check (value::oid < 16384 or lg_catalog.${check}(value))`
    ),
    "create domain lg_catalog.regnamespace as pg_catalog.regnamespace " +
    "check (lg_catalog.check_namespace(value))",
  ];
}

/** Same-named wrappers of the catalog functions the analyzer redirects. */
export function shadowFunctions(): string[] {
  /**
   * `name(types)` that calls the real function when `test` holds (else
   * null), through unphysical() when its text may name the folder's schema.
   */
  const guarded = (
    name: string,
    types: string[],
    returns: string,
    test: string,
    names = false,
  ) => {
    const call = `pg_catalog.${name}(${types.map((_, i) => `$${i + 1}`).join(", ")})`;
    return sql(
      `${name}(${types.join(", ")})`,
      returns,
      `select case when ${test} then ${names ? `lg_catalog.unphysical(${call})` : call} end`,
    );
  };
  /** `name(text, ...)` that resolves the relation named by $1 and calls `name(oid, ...)`. */
  const byName = (name: string, extra: string[], returns: string) =>
    sql(
      `${name}(${["text", ...extra].join(", ")})`,
      returns,
      `select lg_catalog.${name}(lg_catalog.relation_named($1)${
        extra.map((_, i) => `, $${i + 2}`).join("")
      })`,
    );
  const relation = "lg_catalog.relation_visible($1)";
  const definition = "lg_catalog.definition_visible($1)";
  const sizes = ["pg_relation_size", "pg_table_size", "pg_indexes_size", "pg_total_relation_size"];
  const tree = "table (relid pg_catalog.regclass, parentrelid pg_catalog.regclass, " +
    "isleaf boolean, level integer)";
  return [
    ...["current_user", "session_user", "current_role", "user"].map((name) =>
      sql(`"${name}"()`, "name", "select lg_catalog.user_email()")
    ),
    sql(`"current_catalog"()`, "name", "select lg_catalog.folder_path()"),
    sql(
      "version()",
      "text",
      `select 'PostgreSQL ' || lg_catalog.server_major() || '${SERVER_VERSION_SUFFIX}' || ` +
        `' SQL door, PostgreSQL protocol 3.0'`,
    ),
    // A number for the session, as clients show it: the real one is a host process.
    `create function lg_catalog.pg_backend_pid() returns integer language sql volatile as $body$
      select coalesce(lg_catalog.context('session_number'), pg_catalog.set_config(
        'labgate.session_number', (1 + pg_catalog.random() * 2147483646)::integer::text, false
      ))::integer $body$`,
    sql("current_database()", "name", "select lg_catalog.folder_path()"),
    sql(`"current_schema"()`, "name", "select 'lists'::name"),
    sql(
      "current_schemas(boolean)",
      "name[]",
      "select case when $1 then '{pg_catalog,lists}'::name[] else '{lists}'::name[] end",
    ),
    plpgsql(
      "current_setting(text, boolean)",
      "text",
      `begin
        if lg_catalog.setting_visible($1) then
          return lg_catalog.setting_value($1, pg_catalog.current_setting($1, $2));
        end if;
        if $2 then return null; end if;
        raise exception using errcode = '42501',
          message = pg_catalog.format('Setting %s cannot be read through the SQL door', $1),
          hint = 'SHOW ALL lists the settings you can read';
      end`,
    ),
    sql("current_setting(text)", "text", "select lg_catalog.current_setting($1, false)"),
    setConfig(),
    sql(
      "pg_get_userbyid(oid)",
      "name",
      "select case when $1 = lg_catalog.user_oid() then lg_catalog.user_email() " +
        "when $1 = 10 then 'postgres'::name else ('unknown (OID=' || $1 || ')')::name end",
    ),
    guarded("pg_get_indexdef", ["oid"], "text", relation, true),
    guarded("pg_get_indexdef", ["oid", "integer", "boolean"], "text", relation, true),
    guarded("pg_get_constraintdef", ["oid"], "text", "lg_catalog.constraint_visible($1)", true),
    guarded(
      "pg_get_constraintdef",
      ["oid", "boolean"],
      "text",
      "lg_catalog.constraint_visible($1)",
      true,
    ),
    ...[["pg_node_tree", "oid"], ["pg_node_tree", "oid", "boolean"]].map((types) =>
      guarded("pg_get_expr", types, "text", "$2 = 0 or lg_catalog.relation_visible($2)", true)
    ),
    ...[["oid"], ["oid", "boolean"]].map((types) =>
      guarded(
        "pg_get_triggerdef",
        types,
        "text",
        "exists (select 1 from pg_catalog.pg_trigger t where t.oid = $1 " +
          "and lg_catalog.relation_visible(t.tgrelid))",
        true,
      )
    ),
    // A core view's definition would show labgate's own tables. pg_dump
    // needs one: an empty query with the view's columns, so dumps restore.
    sql(
      "core_view_placeholder(oid)",
      "text",
      "select ' SELECT ' || pg_catalog.string_agg(pg_catalog.format('NULL::%s AS %I', " +
        "pg_catalog.format_type(a.atttypid, a.atttypmod), a.attname), ', ' order by a.attnum) " +
        "|| E'\\n  WHERE false;' from pg_catalog.pg_attribute a " +
        "where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped " +
        "and exists (select 1 from pg_catalog.pg_class c where c.oid = $1 " +
        "and c.relkind = 'v' and c.relnamespace = 'core'::regnamespace)",
    ),
    ...[["oid"], ["oid", "boolean"], ["oid", "integer"]].map((types) =>
      sql(
        `pg_get_viewdef(${types.join(", ")})`,
        "text",
        `select case when ${definition} then lg_catalog.unphysical(pg_catalog.pg_get_viewdef(${
          types.map((_, i) => `$${i + 1}`).join(", ")
        })) else lg_catalog.core_view_placeholder($1) end`,
      )
    ),
    byName("pg_get_viewdef", [], "text"),
    byName("pg_get_viewdef", ["boolean"], "text"),
    ...[["oid"], ["oid", "boolean"]].map((types) =>
      guarded(
        "pg_get_ruledef",
        types,
        "text",
        "exists (select 1 from pg_catalog.pg_rewrite r where r.oid = $1 " +
          "and lg_catalog.definition_visible(r.ev_class))",
        true,
      )
    ),
    ...[
      "pg_get_function_result",
      "pg_get_function_arguments",
      "pg_get_function_identity_arguments",
      "pg_get_functiondef",
    ].map((name) => guarded(name, ["oid"], "text", "lg_catalog.function_visible($1)")),
    ...["pg_get_statisticsobjdef", "pg_get_statisticsobjdef_columns"].map((name) =>
      guarded(name, ["oid"], "text", "lg_catalog.statistics_visible($1)", true)
    ),
    guarded("pg_get_partkeydef", ["oid"], "text", relation),
    sql(
      "pg_get_serial_sequence(text, text)",
      "text",
      "select lg_catalog.unphysical(pg_catalog.pg_get_serial_sequence(" +
        "lg_catalog.relation_named($1)::pg_catalog.regclass::text, $2))",
    ),
    sql(
      "format_type(oid, integer)",
      "text",
      "select case when $1 is null then null when lg_catalog.type_visible($1) " +
        "then lg_catalog.unphysical(pg_catalog.format_type($1, $2)) else '???' end",
    ),
    guarded(
      "obj_description",
      ["oid", "name"],
      "text",
      "lg_catalog.object_visible(pg_catalog.to_regclass('pg_catalog.' || $2), $1)",
    ),
    guarded("obj_description", ["oid"], "text", `${relation} or $1 < 16384`),
    guarded("col_description", ["oid", "integer"], "text", relation),
    sql("shobj_description(oid, name)", "text", "select null::text"),
    // The ACLs the shadow views show for the user's own schema and tables
    // (see CatalogView.grants), as pg_dump compares them: equal, so no GRANT.
    sql(
      `acldefault("char", oid)`,
      "text[]",
      "select case when $2 = lg_catalog.user_oid() then case $1 " +
        "when 'n' then array[lg_catalog.user_email() || '=U/' || lg_catalog.user_email()] " +
        "when 'r' then array[lg_catalog.user_email() || '=r/' || lg_catalog.user_email()] end end",
    ),
    guarded("pg_table_is_visible", ["oid"], "boolean", relation),
    guarded("pg_type_is_visible", ["oid"], "boolean", "lg_catalog.type_visible($1)"),
    guarded("pg_function_is_visible", ["oid"], "boolean", "lg_catalog.function_visible($1)"),
    guarded(
      "pg_statistics_obj_is_visible",
      ["oid"],
      "boolean",
      "lg_catalog.statistics_visible($1)",
    ),
    ...sizes.map((name) => guarded(name, ["oid"], "bigint", relation)),
    ...sizes.map((name) => byName(name, [], "bigint")),
    guarded("pg_relation_size", ["oid", "text"], "bigint", relation),
    byName("pg_relation_size", ["text"], "bigint"),
    guarded("has_table_privilege", ["oid", "text"], "boolean", relation),
    byName("has_table_privilege", ["text"], "boolean"),
    sql(
      "has_schema_privilege(oid, text)",
      "boolean",
      `select case when $1 = any(${VISIBLE}) then pg_catalog.has_schema_privilege($1, $2) end`,
    ),
    sql(
      "has_schema_privilege(text, text)",
      "boolean",
      "select lg_catalog.has_schema_privilege(lg_catalog.namespace_named($1), $2)",
    ),
    sql(
      "has_database_privilege(text, text)",
      "boolean",
      "select exists (select 1 from pg_catalog.json_to_recordset(lg_catalog.context('folders')" +
        "::json) f(path text) where f.path = $1)",
    ),
    sql("pg_database_size(name)", "bigint", "select null::bigint"),
    sql("pg_tablespace_location(oid)", "text", "select ''::text"),
    // The user holds no roles but their own.
    sql("pg_has_role(name, text)", "boolean", "select $1 = lg_catalog.user_email()"),
    sql("pg_has_role(oid, text)", "boolean", "select $1 = lg_catalog.user_oid()"),
    guarded("pg_relation_is_publishable", ["oid"], "boolean", relation),
    byName("pg_relation_is_publishable", [], "boolean"),
    sql(
      "pg_partition_ancestors(oid)",
      "setof pg_catalog.regclass",
      `select a.relid from pg_catalog.pg_partition_ancestors($1) a(relid) where ${relation}`,
    ),
    byName("pg_partition_ancestors", [], "setof pg_catalog.regclass"),
    guarded("pg_partition_root", ["oid"], "pg_catalog.regclass", relation),
    byName("pg_partition_root", [], "pg_catalog.regclass"),
    sql(
      "pg_partition_tree(oid)",
      tree,
      `select * from pg_catalog.pg_partition_tree($1) where ${relation}`,
    ),
    byName("pg_partition_tree", [], tree),
    sql(
      "to_regclass(text)",
      "pg_catalog.regclass",
      "select lg_catalog.find_relation($1)::pg_catalog.regclass",
    ),
    sql(
      "to_regtype(text)",
      "pg_catalog.regtype",
      "select case when lg_catalog.type_visible(t) then t end from pg_catalog.to_regtype($1) t",
    ),
    sql(
      "to_regproc(text)",
      "pg_catalog.regproc",
      "select case when lg_catalog.function_visible(p) then p end from pg_catalog.to_regproc($1) p",
    ),
    sql(
      "to_regprocedure(text)",
      "pg_catalog.regprocedure",
      "select case when lg_catalog.function_visible(p) then p end " +
        "from pg_catalog.to_regprocedure($1) p",
    ),
    // EXPLAIN of a catalog query (see explainCatalogQuery in analyze.ts):
    // the plan with names renamed as hidePhysicalNames() renames errors.
    `create function lg_catalog.explain(statement text) returns table ("QUERY PLAN" text)
      language plpgsql volatile as $body$
      declare line text;
      begin
        for line in execute statement loop
          "QUERY PLAN" := pg_catalog.regexp_replace(pg_catalog.regexp_replace(
            pg_catalog.regexp_replace(pg_catalog.regexp_replace(line,
              '\\m' || lg_catalog.folder_schema() || '\\M', 'lists', 'g'),
              '\\mlg_catalog\\M', 'pg_catalog', 'g'),
              '\\mlg_information_schema\\M', 'information_schema', 'g'),
              '\\mlg_[[:alnum:]_$]*', 'hidden', 'g');
          return next;
        end loop;
      end $body$`,
    // PGlite cannot interrupt a running statement, so there a sleep is
    // capped, and one that would outlast the statement timeout stops at the
    // timeout and fails like it. PostgreSQL cancels sleeps as usual.
    `create function lg_catalog.pg_sleep(double precision) returns void language plpgsql volatile as $body$
      declare
        timeout_ms double precision := (select s.setting::double precision
          from pg_catalog.pg_settings s where s.name = 'statement_timeout');
      begin
        if $1 > ${MAX_SLEEP_SECONDS} and pg_catalog.version() like '%emscripten%' then
          raise exception using errcode = '42501',
            message = 'Sleeps through the SQL door can last at most ${MAX_SLEEP_SECONDS} seconds';
        end if;
        if timeout_ms > 0 and $1 * 1000 > timeout_ms then
          perform pg_catalog.pg_sleep(timeout_ms / 1000);
          raise exception using errcode = '57014',
            message = 'canceling statement due to statement timeout';
        end if;
        perform pg_catalog.pg_sleep($1);
      end $body$`,
  ];
}

/**
 * RESET ALL and DISCARD ALL, rewritten: the client's own settings go back to
 * their defaults, the sandbox's stay. `resettable`: the client-settable
 * settings this engine knows.
 */
export function resetProcedures(resettable: readonly string[]): string[] {
  const resets = resettable.map((name) => `reset ${name};`).join(" ");
  return [
    `create procedure lg_catalog.reset_all() language sql as $body$ ${resets}
      select pg_catalog.set_config('statement_timeout', lg_catalog.context('statement_timeout'), false);
      $body$`,
    `create procedure lg_catalog.discard_all() language sql as $body$
      close all; deallocate all; discard plans; call lg_catalog.reset_all(); $body$`,
  ];
}
