/**
 * The functions of the shadow catalog: the per-session context the gateway
 * sets, visibility tests, the checking domains for reg types, and the RESET
 * ALL and DISCARD ALL procedures; the same-named wrappers for the catalog
 * functions the analyzer redirects are in catalog_shadows.ts. Every body
 * names its schemas: the sandbox's search path does not contain lg_catalog.
 */
import { SERVER_VERSION_SUFFIX } from "./policy.ts";

/** A function body in SQL, stable, invoker's rights. */
export function sql(signature: string, returns: string, body: string): string {
  return `create function lg_catalog.${signature} returns ${returns} language sql stable as $body$ ${body} $body$`;
}

/** A stable function returning the one value of `query`, in PL/pgSQL so its plan is kept for the session. */
function cached(signature: string, returns: string, query: string): string {
  return plpgsql(signature, returns, `begin return (${query}); end`);
}

export function plpgsql(
  signature: string,
  returns: string,
  body: string,
  volatility = "stable",
): string {
  return `create function lg_catalog.${signature} returns ${returns} language plpgsql ${volatility} as $body$ ${body} $body$`;
}

export const VISIBLE = "(select lg_catalog.visible_namespaces())::oid[]";

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
    // These four are read by nearly every catalog statement (as initplans of
    // each shadow view). A SQL function whose body has a FROM is not inlined,
    // and PostgreSQL parses and plans its body again in every statement that
    // calls it (and each nested call again); PL/pgSQL keeps its plans for the
    // session, so on a pooled backend a call only runs a cached plan.
    cached(
      "user_oid()",
      "oid",
      "select r.oid from pg_catalog.pg_roles r where r.rolname = current_user " +
        "and lg_catalog.context('folder_id') is not null",
    ),
    cached(
      "user_namespaces()",
      "oid[]",
      "select coalesce(pg_catalog.array_agg(n.oid), '{}') from pg_catalog.pg_namespace n " +
        "where lg_catalog.folder_schema() is not null " +
        "and n.nspname in (lg_catalog.folder_schema(), 'core')",
    ),
    cached(
      "visible_namespaces()",
      "oid[]",
      "select pg_catalog.array_agg(n.oid) from pg_catalog.pg_namespace n " +
        "where n.nspname in ('pg_catalog', 'information_schema') " +
        "or n.oid = any((select lg_catalog.user_namespaces())::oid[])",
    ),
    cached(
      "visible_schema_names()",
      "name[]",
      "select pg_catalog.array_agg(n.nspname) from pg_catalog.pg_namespace n " +
        "where n.oid = any((select lg_catalog.visible_namespaces())::oid[])",
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
