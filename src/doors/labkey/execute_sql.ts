/**
 * executeSql for the LabKey query API: read-only SQL over one folder's lists.
 *
 * ADAPTER — the SQL sandbox (`src/sql/mod.ts`, `analyze(text, scope)`) is
 * being built on another branch. Until it lands, `rewrite()` below is the
 * stand-in, and swapping the sandbox in means replacing that one function.
 * What it supports now, parsed with the real PostgreSQL grammar
 * (libpg_query): exactly one SELECT (WITH, joins, subqueries, set
 * operations allowed) whose tables are this folder's lists, named `name` or
 * `lists.name`, calling only the functions in `FUNCTIONS`. Anything else is
 * refused. It runs in a read-only transaction, as the folder's read-only
 * role, under a statement timeout.
 */
import { loadModule, parseSync, scanSync } from "libpg-query";
import { sql } from "kysely";
import type { ColumnTypeName, JsonValue } from "../../data/column_types.ts";
import { folderRole } from "../../data/physical.ts";
import { MAX_ROWS_PER_REQUEST } from "../../data/rows.ts";
import { isCanceled, timedOut } from "../../data/time_limit.ts";
import type { Container } from "../../db/schema.ts";
import { badRequest, forbidden } from "../../errors.ts";
import type { Services } from "../../services.ts";
import type { ResultField } from "./responses.ts";
import { quoteIdentifier, readAs, WithheldNames, type WithheldRule } from "../../sql/withheld.ts";

/** What a statement may read, and how to name its results. */
export interface SqlScope {
  /** User-facing table name → physical `schema.table`. */
  lists: Map<string, string>;
  /** Physical column name → the column as its list names it (results use these names). */
  columns: Map<string, { name: string; type: ColumnTypeName }>;
  /**
   * Tables with columns above the request's PHI level (sqlTableRules in
   * src/security/phi.ts): read as their other columns, and a statement naming
   * a withheld one is refused (403).
   */
  withheld: ReadonlyMap<string, WithheldRule>;
}

/** When the caller names no limit: the SQL door's default statement timeout. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** Functions a query may call: aggregates and plain value functions, nothing with side effects. */
const FUNCTIONS = new Set(
  ("count sum avg min max stddev variance bool_and bool_or every string_agg array_agg " +
    "lower upper length char_length substring substr trim btrim ltrim rtrim replace concat " +
    "concat_ws left right strpos position split_part initcap lpad rpad reverse " +
    "abs round ceil ceiling floor trunc sqrt power mod sign greatest least coalesce nullif " +
    "date_trunc date_part extract to_char to_date age now current_date make_date " +
    "row_number rank dense_rank lag lead first_value last_value ntile")
    .split(" "),
);

/** Parse nodes that reach outside a plain read of the listed tables. */
const REFUSED_NODES: Record<string, string> = {
  RangeFunction: "Functions in FROM are not supported",
  RangeTableFunc: "XMLTABLE is not supported",
  LockingClause: "FOR UPDATE/SHARE locks rows: executeSql is read-only",
  InsertStmt: "INSERT changes data: executeSql is read-only",
  UpdateStmt: "UPDATE changes data: executeSql is read-only",
  DeleteStmt: "DELETE changes data: executeSql is read-only",
  MergeStmt: "MERGE changes data: executeSql is read-only",
};

let parserReady: Promise<void> | undefined;

type Node = Record<string, unknown>;

type Visitor = (type: string, body: Node, ctes: ReadonlySet<string>) => void;

/**
 * Calls `fn` on every parse node with the WITH names in scope there, as
 * PostgreSQL scopes them: a non-recursive CTE sees only the CTEs before it,
 * a recursive one sees all, and the statement body sees all.
 */
function visit(node: unknown, fn: Visitor, ctes: ReadonlySet<string> = new Set()): void {
  if (Array.isArray(node)) {
    for (const item of node) visit(item, fn, ctes);
    return;
  }
  if (!node || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node)) {
    if (!/^[A-Z]/.test(key) || !value || typeof value !== "object" || Array.isArray(value)) {
      visit(value, fn, ctes);
      continue;
    }
    const body = value as Node;
    fn(key, body, ctes);
    const withClause = body.withClause as
      | { ctes?: { CommonTableExpr?: Node }[]; recursive?: boolean }
      | undefined;
    if (key !== "SelectStmt" || !withClause) {
      visit(body, fn, ctes);
      continue;
    }
    const defined = (withClause.ctes ?? []).map((c) => c.CommonTableExpr ?? {});
    const all = new Set([...ctes, ...defined.map((c) => String(c.ctename))]);
    defined.forEach((cte, i) => {
      const visible = withClause.recursive
        ? all
        : new Set([...ctes, ...defined.slice(0, i).map((c) => String(c.ctename))]);
      visit(cte, fn, visible);
    });
    for (const [field, child] of Object.entries(body)) {
      if (field !== "withClause") visit(child, fn, all);
    }
  }
}

function names(list: unknown): string[] {
  return (list as { String?: { sval: string } }[] ?? []).map((n) => n.String?.sval ?? "");
}

/**
 * The physical SQL for one read-only SELECT over the scope's lists, or a
 * 400 saying what is not supported.
 */
export async function rewrite(text: string, scope: SqlScope): Promise<string> {
  parserReady ??= loadModule();
  await parserReady;
  let parsed;
  try {
    parsed = parseSync(text);
  } catch (error) {
    throw badRequest(`SQL syntax error: ${(error as Error).message}`);
  }
  const statements = parsed.stmts ?? [];
  if (statements.length !== 1) throw badRequest("Send exactly one SQL statement");
  const statement = statements[0];
  if (!statement.stmt || !("SelectStmt" in statement.stmt)) {
    throw badRequest("Only SELECT statements can be run: executeSql is read-only");
  }
  const replacements: { location: number; physical: string; subquery: boolean }[] = [];
  const named = new WithheldNames([...scope.withheld.values()]);
  visit(statement.stmt, (type, body, ctes) => {
    named.note(type, body);
    if (type in REFUSED_NODES) throw badRequest(REFUSED_NODES[type]);
    if (type === "SelectStmt" && body.intoClause) {
      throw badRequest("SELECT INTO writes a table: executeSql is read-only");
    }
    if (type === "RangeVar") {
      const schema = body.schemaname as string | undefined;
      const name = String(body.relname);
      if (body.catalogname || (schema && schema.toLowerCase() !== "lists")) {
        throw badRequest(
          `Only this folder's lists can be queried: ${schema}.${name} is not in schema lists`,
        );
      }
      if (!schema && ctes.has(name)) return;
      const physical = scope.lists.get(name.toLowerCase());
      if (!physical) {
        throw badRequest(
          `No list named ${name} in this folder (lists: ${[...scope.lists.keys()].join(", ")})`,
        );
      }
      const rule = scope.withheld.get(name.toLowerCase());
      const alias = (body.alias as { aliasname?: string } | undefined)?.aliasname;
      named.reads(alias ?? name, rule);
      // A list with withheld columns is read as its other columns, under its own name.
      replacements.push({
        location: body.location as number,
        subquery: rule !== undefined,
        physical: rule
          ? readAs(physical, rule) + (alias === undefined ? ` ${quoteIdentifier(name)}` : "")
          : physical,
      });
    }
    if (type === "FuncCall") {
      const [first, second] = names(body.funcname);
      const name = (second ?? first).toLowerCase();
      if ((second && first !== "pg_catalog") || !FUNCTIONS.has(name)) {
        throw badRequest(
          `Function ${names(body.funcname).join(".")}() is not allowed in executeSql`,
        );
      }
    }
    if (type === "ColumnRef" && (body.fields as unknown[]).length > 2) {
      throw badRequest("Qualify columns with a table name or alias, not a schema");
    }
  });
  const withheld = named.firstNamed();
  if (withheld) throw forbidden(withheld.message);
  return spliceTables(text, statement, replacements);
}

/**
 * Replaces each table name (located by the parser and scanner, in bytes)
 * with its physical name. A subquery (a list with withheld columns) takes
 * `TABLE t` as `SELECT * FROM`, and `ONLY` goes (lists have no children).
 */
function spliceTables(
  text: string,
  statement: { stmt_location?: number; stmt_len?: number },
  replacements: { location: number; physical: string; subquery: boolean }[],
): string {
  const bytes = new TextEncoder().encode(text);
  const tokens = scanSync(text).tokens;
  const start = statement.stmt_location ?? 0;
  const end = statement.stmt_len ? start + statement.stmt_len : bytes.length;
  const decoder = new TextDecoder();
  let out = "";
  let at = start;
  for (const r of replacements.toSorted((a, b) => a.location - b.location)) {
    const i = tokens.findIndex((t) => t.start === r.location);
    const last = tokens[i + 1]?.text === "." ? tokens[i + 2] : tokens[i];
    if (i < 0 || !last) {
      throw badRequest("Could not place a table name in the SQL: write it plainly");
    }
    const keyword = r.subquery ? tokens[i - 1]?.text.toLowerCase() : undefined;
    const from = keyword === "table" || keyword === "only" ? tokens[i - 1].start : r.location;
    out += decoder.decode(bytes.slice(at, from)) + (keyword === "table" ? "SELECT * FROM " : "") +
      r.physical;
    at = last.end;
  }
  return out + decoder.decode(bytes.slice(at, end));
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

export interface SqlResult {
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
  const physical = await rewrite(text, scope);
  const limit = Math.min(Math.max(page.maxRows ?? MAX_ROWS_PER_REQUEST, 0), MAX_ROWS_PER_REQUEST);
  const offset = Math.max(page.offset ?? 0, 0);
  const role = folderRole(svc.database.installId, container.id);
  const { rows, total } = await svc.database.root.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql.raw(`set local statement_timeout = ${timeoutMs}`).execute(trx);
    if (scope.lists.size) await sql.raw(`set local role ${role}`).execute(trx);
    const inner = sql.raw(physical);
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
      const message = [...scope.lists].reduce(
        (text, [name, table]) => text.replaceAll(table, `lists.${name}`),
        (e.message ?? "").replaceAll(role, "this folder's reader"),
      );
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
