/**
 * The engine side of the sandbox: how a backend session is put into a
 * folder's sandbox and taken out again, and how names in its messages are
 * turned back into the names the user sees.
 */
import type { FolderScope } from "./analyze.ts";
import { SERVER_VERSION_SUFFIX } from "./policy.ts";
import { CATALOG_SCHEMA, INFORMATION_SCHEMA } from "./names.ts";

/**
 * SQL (several statements, no result rows) that puts a backend session into
 * the folder's sandbox: the per-user context the shadow catalog reads, the
 * search path, read-only transactions, the statement timeout and, last, the
 * folder's role. Run it as the app's database user, outside a transaction.
 */
export function sessionSetupSql(scope: FolderScope): string {
  const context: Record<string, string> = {
    folder_id: String(scope.containerId),
    folder_path: scope.containerPath,
    user_id: String(scope.userId),
    user_email: scope.userEmail,
    folders: foldersContext(scope),
    statement_timeout: String(scope.statementTimeoutMs),
    // The shadow catalog shows these columns as defined, by `<table oid>:<attnum>` (pg_attribute)
    // and `<table>.<stored name>` (information_schema); an empty value reads as none.
    columns: scope.shownColumns.length
      ? JSON.stringify(Object.fromEntries(scope.shownColumns.flatMap((c) => [
        [`${c.relation}:${c.attnum}`, c.name],
        [`${c.table}.${c.name.toLowerCase()}`, c.name],
      ])))
      : "",
    withheld: withheldContext(scope),
  };
  return [
    "SET standard_conforming_strings = on",
    ...Object.entries(context).map(([name, value]) => `SET labgate.${name} = ${literal(value)}`),
    `SET search_path = pg_catalog, ${identifier(scope.schema)}`,
    "SET default_transaction_read_only = on",
    `SET statement_timeout = ${Math.max(1, Math.floor(scope.statementTimeoutMs))}`,
    `SET ROLE ${identifier(scope.role)}`,
  ].join(";\n");
}

/** The readable folders as the shadow catalog reads them (`labgate.folders`). */
function foldersContext(scope: FolderScope): string {
  return JSON.stringify(scope.readableFolders.map(({ id, path }) => ({ id, path })));
}

/**
 * The list columns above the connection's PHI level, which the shadow
 * catalog leaves out: by `<table oid>:<attnum>` (pg_attribute) and
 * `<table>.<stored name>` (information_schema, pg_stats); empty for none.
 */
function withheldContext(scope: FolderScope): string {
  const keys = scope.withheldTables.flatMap((t) =>
    t.withheld.flatMap((c) => [`${c.relation}:${c.attnum}`, `${t.table}.${c.column}`])
  );
  return keys.length ? JSON.stringify(Object.fromEntries(keys.map((k) => [k, 1]))) : "";
}

/**
 * SQL that gives a session already set up for `scope` the scope's readable
 * folders and withheld columns: for one whose folders or PHI columns
 * changed while it holds a backend.
 */
export function catalogContextSql(scope: FolderScope): string {
  return `SET labgate.folders = ${literal(foldersContext(scope))};\n` +
    `SET labgate.withheld = ${literal(withheldContext(scope))}`;
}

/**
 * Statements that return a backend session to neutral: no open transaction,
 * the app's role and settings, no cursors, no prepared statements. Safe in
 * any transaction state (ROLLBACK warns when there is none). Each must run
 * as a query of its own: in one query string they share an implicit
 * transaction, and any of them failing would roll RESET ROLE back and leave
 * the app's session in the folder's role.
 */
export function sessionResetSql(): readonly string[] {
  return ["ROLLBACK", "RESET ROLE", "CLOSE ALL", "DEALLOCATE ALL", "RESET ALL"];
}

/**
 * Rewrites the text of an ErrorResponse or NoticeResponse field so that no
 * physical name reaches the client: the folder's schema reads `lists`, its
 * role the user's email, the shadow schemas their catalog names, and any
 * other `lg_` name `hidden`.
 */
export function hidePhysicalNames(text: string, scope: FolderScope): string {
  if (!text.includes("lg_")) return text;
  const names: Record<string, string> = {
    [scope.schema]: "lists",
    [scope.role]: scope.userEmail,
    [CATALOG_SCHEMA]: "pg_catalog",
    [INFORMATION_SCHEMA]: "information_schema",
  };
  return text.replace(/(?<![\p{L}\p{N}_$])lg_[\p{L}\p{N}_$]*/gu, (name) => names[name] ?? "hidden");
}

/**
 * The server_version clients are told for an engine's own (`15.20 (Debian
 * …)`): its major version, as SHOW and pg_settings give it too.
 */
export function shownServerVersion(engineVersion: string): string {
  return `${Number.parseInt(engineVersion) || 15}${SERVER_VERSION_SUFFIX}`;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function identifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
