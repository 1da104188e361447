/**
 * Same-named wrappers of the catalog functions the analyzer redirects
 * (SHADOWED_FUNCTIONS in policy.ts): each answers for what the connected
 * user may see, and writes the folder's schema as lists.
 */
import { plpgsql, sql, VISIBLE } from "./catalog_functions.ts";
import {
  FREE_SETTINGS,
  MAX_SLEEP_SECONDS,
  SEARCH_PATH_NAMES,
  SERVER_VERSION_SUFFIX,
  TRUE_WORDS,
} from "./policy.ts";

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
