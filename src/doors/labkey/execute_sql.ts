/**
 * executeSql for the LabKey query API: read-only SQL over one folder's lists.
 * What a statement may do is the SQL sandbox's to decide (`analyzeQuery`,
 * src/sql/query.ts: one SELECT over the folder's lists, the sandbox's
 * function allow-list, PHI-withheld columns as at the SQL door); this door
 * builds its scope, says no in LabKey's words, runs the rewritten statement
 * in a read-only transaction, as the folder's read-only role, under a
 * statement timeout, and names the results as the lists name their columns.
 */
import { sql } from "kysely";
import type { Actor } from "../../core/actor.ts";
import type { ColumnTypeName, JsonValue } from "../../data/column_types.ts";
import { folderRole, folderSchema } from "../../data/physical.ts";
import { MAX_ROWS_PER_REQUEST } from "../../data/rows.ts";
import { isCanceled, timedOut } from "../../data/time_limit.ts";
import type { Container } from "../../db/schema.ts";
import { badRequest, forbidden } from "../../errors.ts";
import { phiLevelInForce, sqlTableRules } from "../../security/phi.ts";
import type { Services } from "../../services.ts";
import { analyzeQuery, type QueryScope } from "../../sql/mod.ts";
import type { ResultField } from "./responses.ts";

/** What a statement may read, and how to name its results. */
interface SqlScope {
  /** What the sandbox lets it read: the folder's lists, less the columns above the PHI level. */
  sandbox: QueryScope;
  /** Physical column name → the column as its list names it (results use these names). */
  columns: Map<string, { name: string; type: ColumnTypeName }>;
}

/** When the caller names no limit: the SQL door's default statement timeout. */
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The scope of `actor`'s executeSql in `container` (which the actor can
 * read): the folder's lists, their columns, and the lists with columns above
 * the actor's PHI level (src/security/phi.ts sqlTableRules).
 */
export async function sqlScopeOf(
  svc: Services,
  actor: Actor,
  container: Container,
): Promise<SqlScope> {
  const columns = await svc.db.selectFrom("lists as l")
    .leftJoin("list_columns as c", "c.list_id", "l.id")
    .select(["l.table_name", "c.column_name", "c.name", "c.type", "c.phi"])
    .where("l.container_id", "=", container.id).orderBy("l.id").orderBy("c.position").execute();
  const withheldTables = sqlTableRules(
    columns.flatMap((c) =>
      c.name ? [{ table: c.table_name, column: c.column_name!, name: c.name, phi: c.phi! }] : []
    ),
    phiLevelInForce(actor),
  );
  const named = new Map<string, { name: string; type: ColumnTypeName }>();
  for (const c of columns) {
    if (c.column_name && !named.has(c.column_name)) {
      named.set(c.column_name, { name: c.name!, type: c.type as ColumnTypeName });
    }
  }
  return {
    sandbox: {
      containerPath: container.path,
      schema: folderSchema(container.id),
      shownColumns: columns.flatMap((c) =>
        c.name && c.name !== c.column_name ? [{ name: c.name }] : []
      ),
      withheldTables,
      listsOnly: { door: "executeSql", lists: new Set(columns.map((c) => c.table_name)) },
    },
    columns: named,
  };
}

/**
 * The physical SQL for one read-only SELECT over the scope's lists, or a
 * 400 saying what is not supported (403 for a column above the PHI level).
 */
function rewrite(text: string, scope: SqlScope): string {
  const analysis = analyzeQuery(text, scope.sandbox);
  if (analysis.ok) return analysis.text;
  const { refusal } = analysis;
  if (analysis.withheld) throw forbidden(refusal.message);
  throw badRequest(refusal.message);
}

/** Guesses a column type from the JSON values a query returned. */
function inferType(values: JsonValue[]): ColumnTypeName {
  const present = values.filter((v) => v !== null);
  if (!present.length) return "Text";
  if (present.every((v) => typeof v === "number")) {
    return present.every((v) => Number.isInteger(v)) ? "Integer" : "Double";
  }
  if (present.every((v) => typeof v === "boolean")) return "Boolean";
  if (present.every((v) => typeof v === "string")) return "Text";
  return "JSON";
}

/** How each column type comes back from `to_json`: a list column's type is kept when it matches. */
const TYPE_GROUP: Record<ColumnTypeName, string> = {
  Text: "string",
  UUID: "string",
  Date: "string",
  DateTime: "string",
  Timestamp: "string",
  Integer: "number",
  BigInteger: "number",
  Decimal: "number",
  Double: "number",
  Boolean: "boolean",
  JSON: "json",
};

/**
 * A row of `to_json` text, with the numbers PostgreSQL printed otherwise
 * than JavaScript would (`12.50`, more digits than a double holds) noted by
 * column, so a Decimal can keep what it printed.
 */
function parseRow(text: string): { row: Record<string, JsonValue>; printed: Map<string, string> } {
  const noted: [unknown, string, string][] = [];
  const row = JSON.parse(
    text,
    function (this: unknown, key: string, value: unknown, context?: { source?: string }) {
      const source = context?.source;
      if (typeof value === "number" && source !== undefined && source !== String(value)) {
        noted.push([this, key, source]);
      }
      return value;
    },
  ) as Record<string, JsonValue>;
  const printed = new Map<string, string>();
  for (const [holder, key, source] of noted) if (holder === row) printed.set(key, source);
  return { row, printed };
}

/** A column's value in labgate's form (as selectRows gives it): a Decimal as its printed text. */
function sameAsSelectRows(
  type: ColumnTypeName,
  value: JsonValue,
  printed: string | undefined,
): JsonValue {
  return type === "Decimal" && typeof value === "number" ? printed ?? String(value) : value;
}

interface SqlResult {
  fields: ResultField[];
  rows: Record<string, JsonValue>[];
  rowCount: number;
}

/** Runs a checked SELECT read-only as the folder's role; paging applies around it. */
export async function runReadOnly(
  svc: Services,
  container: Container,
  text: string,
  scope: SqlScope,
  page: { maxRows?: number; offset?: number; timeoutMs?: number } = {},
): Promise<SqlResult> {
  const timeoutMs = Math.max(1, Math.floor(page.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  const physical = rewrite(text, scope);
  const limit = Math.min(Math.max(page.maxRows ?? MAX_ROWS_PER_REQUEST, 0), MAX_ROWS_PER_REQUEST);
  const offset = Math.max(page.offset ?? 0, 0);
  const role = folderRole(svc.database.installId, container.id);
  const { rows, total } = await svc.database.root.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql.raw(`set local statement_timeout = ${timeoutMs}`).execute(trx);
    if (scope.sandbox.listsOnly.lists.size) await sql.raw(`set local role ${role}`).execute(trx);
    // On a line of its own: a comment at its end must not swallow what follows.
    const inner = sql.raw(`${physical}\n`);
    const { rows } = await sql<{ row: string }>`
      select to_json(q)::text as row from (${inner}) as q limit ${limit} offset ${offset}`
      .execute(trx);
    const count = await sql<{ n: number }>`select count(*)::int as n from (${inner}) as q`
      .execute(trx);
    return { rows: rows.map((r) => parseRow(r.row)), total: count.rows[0].n };
  }).catch((error) => {
    const e = error as { code?: string; message?: string };
    if (isCanceled(error)) throw timedOut(timeoutMs);
    if (e.code && /^(22|42|0A|25)/.test(e.code)) {
      const message = (e.message ?? "").replaceAll(role, "this folder's reader")
        .replace(new RegExp(`\\b${scope.sandbox.schema}\\b`, "g"), "lists");
      throw badRequest(`SQL error: ${message}`);
    }
    throw error;
  });
  const columns = rows.length ? Object.keys(rows[0].row) : [];
  const fields = columns.map((key) => {
    const inferred = inferType(rows.map((r) => r.row[key]));
    const listed = scope.columns.get(key);
    if (!listed) return { key, name: key, type: inferred };
    return {
      key,
      name: listed.name,
      type: TYPE_GROUP[listed.type] === TYPE_GROUP[inferred] ? listed.type : inferred,
    };
  });
  return {
    fields: fields.map(({ name, type }) => ({ name, type })),
    rows: rows.map(({ row, printed }) =>
      Object.fromEntries(
        fields.map((f) => [f.name, sameAsSelectRows(f.type, row[f.key], printed.get(f.key))]),
      )
    ),
    rowCount: total,
  };
}
