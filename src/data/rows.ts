/**
 * Rows of a list: select with filters, sort and paging; insert, update and
 * delete in one transaction each; CSV/TSV import that either loads every
 * row or changes nothing; CSV export.
 */
import { actorBits } from "../core/in_flight.ts";
import { type Kysely, type RawBuilder, sql } from "kysely";
import type { Schema } from "../db/mod.ts";
import { type Actor, auditActor } from "../core/actor.ts";
import { badRequest, forbidden, LabgateError, notFound } from "../errors.ts";
import { hasPermission, Permission } from "../security/permissions.ts";
import {
  columnVisible,
  type DeclaredPhiLevel,
  phiLevelInForce,
  withheldMessage,
} from "../security/phi.ts";
import type { Services } from "../services.ts";
import { type JsonValue, outputValue, parseValue } from "./column_types.ts";
import { recordFolderChange, requireContainer } from "./containers.ts";
import { type ImportFormat, pauser, readDelimited, REPLACEMENT } from "./csv.ts";
import { withTimeLimit } from "./time_limit.ts";
import type { ListDefinition } from "./lists.ts";

export type Row = Record<string, JsonValue>;
type Column = ListDefinition["columns"][number];

export const FILTER_OPS = [
  "eq",
  "neq",
  "gt",
  "gte",
  "lt",
  "lte",
  "contains",
  "doesnotcontain",
  "startswith",
  "doesnotstartwith",
  "in",
  "notin",
  "isblank",
  "isnonblank",
  "neqornull",
  "dateeq",
  "dateneq",
  "dategt",
  "dategte",
  "datelt",
  "datelte",
  "between",
  "notbetween",
  "containsoneof",
  "containsnoneof",
] as const;
export type FilterOp = typeof FILTER_OPS[number];

export interface Filter {
  column: string;
  op: FilterOp;
  /**
   * One value; several for `in`/`notin`/`containsoneof`/`containsnoneof` (array or `;`-separated)
   * and two for `between`/`notbetween` (array or `,`-separated); none for `isblank`/`isnonblank`.
   */
  value?: unknown;
}

export interface RowQuery {
  /** Column names to return; all when absent. */
  columns?: string[];
  filters?: Filter[];
  sort?: { column: string; descending?: boolean }[];
  limit?: number;
  offset?: number;
  /** Count every matching row for `total` (default); false reports the rows returned. */
  count?: boolean;
  /** Longest each of its statements may run (src/data/time_limit.ts); none when absent. */
  timeoutMs?: number;
}

export interface RowError {
  /** 1-based: the data row of an import (header not counted), or the index in a request. */
  row: number;
  column?: string;
  message: string;
}

export const MAX_ROWS_PER_REQUEST = 100_000;
const MAX_REPORTED_ERRORS = 100;

/** Finds a column by its name or physical name, ignoring case. */
export function findColumn(def: ListDefinition, name: string): Column | undefined {
  const lower = name.trim().toLowerCase();
  return def.columns.find((c) => c.column_name === lower || c.name.toLowerCase() === lower);
}

function requireColumn(def: ListDefinition, name: string): Column {
  const column = findColumn(def, name);
  if (!column) {
    throw badRequest(
      `List ${def.list.name} has no column "${name}" (columns: ${
        def.columns.map((c) => c.name).join(", ")
      })`,
    );
  }
  return column;
}

/** The columns of `def` the actor may see, in order (src/security/phi.ts decides). */
export function visibleColumnsOf(def: ListDefinition, actor: Actor | null): Column[] {
  const inForce = phiLevelInForce(actor);
  return def.columns.filter((c) => columnVisible(c.phi, inForce));
}

/**
 * Refuses a request that names columns above its PHI level (reading,
 * filtering, sorting or writing them would leak their values): 403 naming
 * each column and the level it needs, audited with the columns, never values.
 */
function refuseWithheld(
  svc: Services,
  actor: Actor | null,
  def: ListDefinition,
  names: Iterable<string>,
  action: string,
): void {
  const inForce = phiLevelInForce(actor);
  const withheld = new Map<string, Column>();
  for (const name of names) {
    const column = typeof name === "string" ? findColumn(def, name) : undefined;
    if (column && !columnVisible(column.phi, inForce)) withheld.set(column.column_name, column);
  }
  if (!withheld.size) return;
  const columns = [...withheld.values()];
  auditPhi(svc, actor, def, "phi.refused", inForce, columns.map((c) => c.name), action);
  throw forbidden(
    `${action} refused: ${columns.map(withheldMessage).join("; ")} (your level: ${inForce})`,
  );
}

function auditPhi(
  svc: Services,
  actor: Actor | null,
  def: ListDefinition,
  event: "phi.withheld" | "phi.refused",
  inForce: DeclaredPhiLevel,
  columns: string[],
  action: string,
): void {
  svc.audit.record({
    ...(actor ? auditActor(actor) : { door: "web" as const }),
    event,
    outcome: event === "phi.refused" ? "denied" : "ok",
    containerId: def.container.id,
    containerPath: def.container.path,
    detail: JSON.stringify({ list: def.list.name, action, phiLevel: inForce, columns }),
  });
}

const table = (def: ListDefinition) => sql.table(def.qualifiedTable);
const ref = (c: Column) => sql.ref(c.column_name);
/**
 * A column named with its table, for ORDER BY: there a bare name means the
 * select list's `::text` output column, which sorts 10 before 9 and keeps
 * the planner from reading the key's index.
 */
const tableRef = (def: ListDefinition, c: Column) =>
  sql.ref(`${def.qualifiedTable}.${c.column_name}`);

/**
 * The SQL text of a list's names (select list, table, sort), built and
 * compiled by Kysely once per definition and shape: per request that cost
 * more than the driver's work for a 100-row page. A definition is replaced
 * within a second (lists.ts), and its texts go with it.
 */
const compiledParts = new WeakMap<ListDefinition, Map<string, RawBuilder<unknown>>>();
/** Column and sort choices are the client's: a bound on what one definition keeps. */
const MAX_PARTS_PER_LIST = 100;

/**
 * selectRows' totals by list and filter, each kept at most COUNT_MS: a count
 * reads every matching row, a third of PostgreSQL's work for a 100-row page
 * of a 1000-row list. Every write to a list's rows, on any instance, starts
 * the list's generation afresh (through the invalidation bus), so a script
 * that writes and then reads gets the new total; the generation is read
 * before the count runs, so a count that raced a write is filed under the old one.
 */
class RowCounts {
  readonly #generations = new Map<number, number>();
  readonly #counts = new Map<string, { count: number; at: number }>();

  constructor(svc: Services) {
    svc.invalidate.subscribe((event) => {
      if (event.kind === "rows") {
        this.#generations.set(event.list, (this.#generations.get(event.list) ?? 0) + 1);
      } else if (event.kind === "lists" || event.kind === "all") {
        this.#counts.clear();
      }
    });
  }

  key(list: number, filters: unknown): string {
    return `${list}:${this.#generations.get(list) ?? 0}:${JSON.stringify(filters)}`;
  }

  get(key: string): number | undefined {
    const known = this.#counts.get(key);
    return known && performance.now() - known.at < COUNT_MS ? known.count : undefined;
  }

  set(key: string, count: number): void {
    if (this.#counts.size >= MAX_COUNTS) this.#counts.clear();
    this.#counts.set(key, { count, at: performance.now() });
  }
}

const COUNT_MS = 1000;
/** Filters are the client's: a bound on what is kept. */
const MAX_COUNTS = 10_000;
const rowCounts = new WeakMap<Services, RowCounts>();

function rowCountsOf(svc: Services): RowCounts {
  let counts = rowCounts.get(svc);
  if (!counts) rowCounts.set(svc, counts = new RowCounts(svc));
  return counts;
}

function compiledPart(
  svc: Services,
  def: ListDefinition,
  key: string,
  build: () => RawBuilder<unknown>,
): RawBuilder<unknown> {
  let parts = compiledParts.get(def);
  if (!parts) compiledParts.set(def, parts = new Map());
  let part = parts.get(key);
  if (!part) {
    if (parts.size >= MAX_PARTS_PER_LIST) parts.clear();
    part = sql.raw(build().compile(svc.database.root).sql);
    parts.set(key, part);
  }
  return part;
}

function selectList(columns: Column[]): RawBuilder<unknown> {
  return sql.join(columns.map((c) => sql`${ref(c)}::text as ${sql.ref(c.column_name)}`));
}

function toRow(columns: Column[], record: Record<string, string | null>): Row {
  const row: Row = {};
  for (const c of columns) row[c.name] = outputValue(c.type, record[c.column_name]);
  return row;
}

function typedValue(column: Column, value: unknown): RawBuilder<unknown> {
  const parsed = parseValue(column.type, value);
  if (!parsed.ok) throw badRequest(`Filter on ${column.name}: ${parsed.error}`);
  return sql`cast(${parsed.text} as ${sql.raw(typeSql(column))})`;
}

function typeSql(column: Column): string {
  return {
    Text: "text",
    Integer: "integer",
    BigInteger: "bigint",
    Decimal: "numeric",
    Double: "double precision",
    Boolean: "boolean",
    Date: "date",
    DateTime: "timestamp",
    Timestamp: "timestamptz",
    UUID: "uuid",
    JSON: "jsonb",
  }[column.type];
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (m) => "\\" + m);
}

function filterSql(def: ListDefinition, filter: Filter): RawBuilder<unknown> {
  const column = requireColumn(def, filter.column);
  const col = ref(column);
  const text = () => {
    if (filter.value === undefined || filter.value === null) {
      throw badRequest(`Filter ${filter.op} on ${column.name} needs a value`);
    }
    return escapeLike(String(filter.value));
  };
  const list = (separator: string) => {
    const items = Array.isArray(filter.value)
      ? filter.value
      : String(filter.value ?? "").split(separator).filter((v) => v !== "");
    if (!items.length) throw badRequest(`Filter ${filter.op} on ${column.name} needs values`);
    return items;
  };
  const values = () => sql.join(list(";").map((v) => typedValue(column, v)));
  const range = () => {
    const bounds = list(",");
    if (bounds.length !== 2) {
      throw badRequest(`Filter ${filter.op} on ${column.name} needs two values: low,high`);
    }
    return sql`${typedValue(column, bounds[0])} and ${typedValue(column, bounds[1])}`;
  };
  const anyLike = () =>
    sql.join(
      list(";").map((v) => sql`${col}::text ilike ${"%" + escapeLike(String(v)) + "%"}`),
      sql` or `,
    );
  const day = () => {
    const parsed = parseValue("Date", String(filter.value ?? "").slice(0, 10));
    if (!parsed.ok || parsed.text === null) {
      throw badRequest(`Filter ${filter.op} on ${column.name} needs a date (YYYY-MM-DD)`);
    }
    return sql`cast(${parsed.text} as date)`;
  };
  const colDay = sql`cast(${col} as date)`;
  switch (filter.op) {
    case "eq":
      return sql`${col} = ${typedValue(column, filter.value)}`;
    case "neq":
      return sql`${col} is distinct from ${typedValue(column, filter.value)}`;
    case "gt":
      return sql`${col} > ${typedValue(column, filter.value)}`;
    case "gte":
      return sql`${col} >= ${typedValue(column, filter.value)}`;
    case "lt":
      return sql`${col} < ${typedValue(column, filter.value)}`;
    case "lte":
      return sql`${col} <= ${typedValue(column, filter.value)}`;
    case "contains":
      return sql`${col}::text ilike ${"%" + text() + "%"}`;
    case "doesnotcontain":
      return sql`(${col} is null or ${col}::text not ilike ${"%" + text() + "%"})`;
    case "startswith":
      return sql`${col}::text ilike ${text() + "%"}`;
    case "doesnotstartwith":
      return sql`(${col} is null or ${col}::text not ilike ${text() + "%"})`;
    case "in":
      return sql`${col} in (${values()})`;
    case "notin":
      return sql`(${col} is null or ${col} not in (${values()}))`;
    case "isblank":
      return sql`${col} is null`;
    case "isnonblank":
      return sql`${col} is not null`;
    case "neqornull":
      return sql`${col} is distinct from ${typedValue(column, filter.value)}`;
    case "dateeq":
      return sql`${colDay} = ${day()}`;
    case "dateneq":
      return sql`${colDay} is distinct from ${day()}`;
    case "dategt":
      return sql`${colDay} > ${day()}`;
    case "dategte":
      return sql`${colDay} >= ${day()}`;
    case "datelt":
      return sql`${colDay} < ${day()}`;
    case "datelte":
      return sql`${colDay} <= ${day()}`;
    case "between":
      return sql`${col} between ${range()}`;
    case "notbetween":
      return sql`(${col} is null or ${col} not between ${range()})`;
    case "containsoneof":
      return sql`(${anyLike()})`;
    case "containsnoneof":
      return sql`(${col} is null or not (${anyLike()}))`;
    default:
      throw badRequest(`Unknown filter "${filter.op}": use one of ${FILTER_OPS.join(", ")}`);
  }
}

/** The window column that carries the total; `lg_` names are never list columns. */
const TOTAL = "lg_total";

/**
 * Rows matching `query`, and how many match in all. Needs Read. Columns
 * above the actor's PHI level are left out (and the withholding audited);
 * naming one in `columns`, a filter or a sort is refused.
 */
export async function selectRows(
  svc: Services,
  actor: Actor | null,
  def: ListDefinition,
  query: RowQuery = {},
): Promise<{ rows: Row[]; total: number; columns: Column[] }> {
  return await selectVisible(svc, actor, def, query, true);
}

async function selectVisible(
  svc: Services,
  actor: Actor | null,
  def: ListDefinition,
  query: RowQuery,
  auditWithheld: boolean,
): Promise<{ rows: Row[]; total: number; columns: Column[] }> {
  // The definition was loaded for this request; only the permission needs a fresh look.
  const bits = await actorBits(svc, actor, def.container.id);
  if (!hasPermission(bits, Permission.READ)) {
    throw notFound(`Folder ${def.container.path} does not exist or you cannot read it`);
  }
  refuseWithheld(svc, actor, def, [
    ...query.columns ?? [],
    ...(query.filters ?? []).map((f) => f.column),
    ...(query.sort ?? []).map((s) => s.column),
  ], "Reading");
  const visible = visibleColumnsOf(def, actor);
  if (auditWithheld && visible.length < def.columns.length) {
    const shown = new Set(visible);
    auditPhi(
      svc,
      actor,
      def,
      "phi.withheld",
      phiLevelInForce(actor),
      def.columns.filter((c) => !shown.has(c)).map((c) => c.name),
      "Reading",
    );
  }
  const columns = query.columns?.length ? query.columns.map((c) => requireColumn(def, c)) : visible;
  const filters = (query.filters ?? []).map((f) => filterSql(def, f));
  const where = filters.length ? sql`where ${sql.join(filters, sql` and `)}` : sql``;
  const keyColumn = def.columns.find((c) => c.column_name === def.list.key_column)!;
  const sorts = [
    ...(query.sort ?? []).map((s) => ({
      column: requireColumn(def, s.column),
      direction: s.descending ? "desc" : "asc",
    })),
    { column: keyColumn, direction: "asc" },
  ];
  const selected = compiledPart(
    svc,
    def,
    `select ${columns.map((c) => c.column_name)}`,
    () => selectList(columns),
  );
  const from = compiledPart(svc, def, "from", () => table(def));
  const orderBy = compiledPart(
    svc,
    def,
    `order ${sorts.map((s) => `${s.column.column_name} ${s.direction}`)}`,
    () => sql.join(sorts.map((s) => sql`${tableRef(def, s.column)} ${sql.raw(s.direction)}`)),
  );
  const limit = Math.min(Math.max(query.limit ?? 100, 0), MAX_ROWS_PER_REQUEST);
  const offset = Math.max(query.offset ?? 0, 0);
  // The total comes with the page in one round trip, from a count the planner runs once
  // (a window count would read and sort every matching row); a page past the end needs its own.
  const count = query.count ?? true;
  const counts = rowCountsOf(svc);
  const countKey = count ? counts.key(def.list.id, query.filters ?? []) : "";
  const known = count ? counts.get(countKey) : undefined;
  const total = count && known === undefined
    ? sql`, (select count(*) from ${from} ${where})::int as ${sql.raw(TOTAL)}`
    : sql``;
  const { rows, counted } = await withTimeLimit(svc, query.timeoutMs, async (db) => {
    const { rows } = await sql<Record<string, string | null>>`
      select ${selected}${total} from ${from} ${where}
      order by ${orderBy} limit ${limit} offset ${offset}
    `.execute(db);
    if (known !== undefined || !count) return { rows, counted: known ?? rows.length };
    return {
      rows,
      counted: rows.length ? Number(rows[0][TOTAL]) : (await sql<{ n: number }>`
        select count(*)::int as n from ${from} ${where}
      `.execute(db)).rows[0].n,
    };
  });
  if (count && known === undefined) counts.set(countKey, counted);
  return { rows: rows.map((r) => toRow(columns, r)), total: counted, columns };
}

/**
 * Every matching row, a batch at a time, in the query's order: exports of
 * any size without holding them. Unsorted (key order), each batch starts
 * after the last key of the one before, so the millionth row costs what the
 * first did; a sorted query pages by offset.
 */
export async function* rowBatches(
  svc: Services,
  actor: Actor | null,
  def: ListDefinition,
  query: Omit<RowQuery, "limit" | "offset" | "count">,
  batch = 5000,
): AsyncGenerator<Row[]> {
  const key = def.columns.find((c) => c.column_name === def.list.key_column)!;
  const keyset = !query.sort?.length;
  const columns = query.columns?.length && !query.columns.includes(key.name)
    ? [...query.columns, key.name]
    : query.columns;
  let after: JsonValue | undefined;
  for (let offset = 0;; offset += batch) {
    const filters = keyset && after !== undefined
      ? [...(query.filters ?? []), { column: key.name, op: "gt" as const, value: after }]
      : query.filters;
    // The caller's selectRows for the same query audited what is withheld.
    const { rows } = await selectVisible(svc, actor, def, {
      ...query,
      columns,
      filters,
      limit: batch,
      offset: keyset ? 0 : offset,
      count: false,
    }, false);
    if (rows.length) yield rows;
    if (rows.length < batch) return;
    after = rows.at(-1)![key.name];
  }
}

/** `<column>~<op>=<value>` parameters (LabKey's filter syntax) as filters, for the API and pages. */
export function filtersFromParams(params: URLSearchParams): Filter[] {
  const filters: Filter[] = [];
  for (const [name, value] of params) {
    if (!name.includes("~")) continue;
    const [column, op] = name.split("~");
    const lower = op.toLowerCase();
    if (!(FILTER_OPS as readonly string[]).includes(lower)) {
      throw badRequest(`Unknown filter "${op}" on ${column}: use one of ${FILTER_OPS.join(", ")}`);
    }
    filters.push({ column, op: lower as FilterOp, value });
  }
  return filters;
}

/** Checks input rows against the columns: database texts per column, or every error found. */
function checkRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  rows: Record<string, unknown>[],
  mode: "insert" | "update",
): { values: Map<Column, string | null>[]; errors: RowError[] } {
  refuseWithheld(
    svc,
    actor,
    def,
    rows.flatMap((r) => typeof r === "object" && r !== null ? Object.keys(r) : []),
    mode === "insert" ? "Insert" : "Update",
  );
  const errors: RowError[] = [];
  const values = rows.map((input, index) => {
    const row = new Map<Column, string | null>();
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      errors.push({ row: index + 1, message: "Each row must be an object of column: value" });
      return row;
    }
    for (const [name, value] of Object.entries(input)) {
      const column = findColumn(def, name);
      if (!column) {
        errors.push({ row: index + 1, column: name, message: `Unknown column "${name}"` });
        continue;
      }
      if (column.column_name === def.list.key_column && def.list.key_auto && mode === "insert") {
        if (value !== null && value !== undefined && value !== "") {
          errors.push({
            row: index + 1,
            column: column.name,
            message: `${column.name} is assigned automatically; leave it out`,
          });
        }
        continue;
      }
      const parsed = parseValue(column.type, value);
      if (!parsed.ok) {
        errors.push({ row: index + 1, column: column.name, message: parsed.error });
        continue;
      }
      row.set(column, parsed.text);
    }
    for (const column of def.columns) {
      const auto = def.list.key_auto && column.column_name === def.list.key_column;
      const isKey = column.column_name === def.list.key_column;
      const missing = row.has(column) ? row.get(column) === null : mode === "insert" || isKey;
      const needed = mode === "insert" ? column.required && !auto : isKey || column.required;
      if (missing && needed && !(mode === "update" && !row.has(column) && !isKey)) {
        errors.push({ row: index + 1, column: column.name, message: `${column.name} is required` });
      }
    }
    return row;
  });
  return { values, errors };
}

/** Rows checked between pauses: an import of a million rows keeps nobody waiting. */
const CHECK_BATCH = 5000;

/** checkRows() for an import's cells, a batch at a time with pauses between. */
async function checkImported(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  header: string[],
  data: string[][],
): Promise<ReturnType<typeof checkRows>> {
  const values: Map<Column, string | null>[] = [];
  const errors: RowError[] = [];
  const pause = pauser();
  for (let from = 0; from < data.length; from += CHECK_BATCH) {
    const objects = data.slice(from, from + CHECK_BATCH).map((cells) =>
      Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ""]))
    );
    const checked = checkRows(svc, actor, def, objects, "insert");
    for (const row of checked.values) values.push(row);
    for (const error of checked.errors) errors.push({ ...error, row: error.row + from });
    await pause();
  }
  return { values, errors };
}

const NOT_UTF8 = "is not valid UTF-8: save the file as UTF-8 and import it again";

/** Where an upload had bytes that were not UTF-8 (now U+FFFD): row errors, or one for the file. */
function notUtf8(header: string[], data: string[][]): LabgateError {
  const errors: RowError[] = [];
  data.forEach((cells, r) =>
    cells.forEach((cell, i) => {
      if (cell.includes(REPLACEMENT)) {
        errors.push({
          row: r + 1,
          column: header[i] ?? `${i + 1}`,
          message: `the text ${NOT_UTF8}`,
        });
      }
    })
  );
  if (errors.length && !header.some((h) => h.includes(REPLACEMENT))) {
    return rowErrors("Import", errors);
  }
  const where = header.some((h) => h.includes(REPLACEMENT)) ? "the header row" : "the file";
  return badRequest(`Import failed, nothing was changed: ${where} ${NOT_UTF8}`);
}

function rowErrors(action: string, errors: RowError[]): LabgateError {
  const first = errors[0];
  const where = `Row ${first.row}${first.column ? `, column ${first.column}` : ""}`;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : "";
  return badRequest(`${action} failed, nothing was changed: ${where}: ${first.message}${more}`, {
    errors: errors.slice(0, MAX_REPORTED_ERRORS),
  });
}

/** Turns a database error on list data into a clear message with no physical names. */
function dataError(def: ListDefinition, error: unknown, action: string): LabgateError {
  const e = error as { code?: string; detail?: string; message?: string };
  const userNames = (text: string) =>
    def.columns.reduce(
      (t, c) => t.replaceAll(`(${c.column_name})`, `(${c.name})`),
      text.replaceAll(def.qualifiedTable, def.list.name),
    );
  if (e.code === "23505") {
    return badRequest(
      `${action} failed, nothing was changed: ${userNames(e.detail ?? "") || "duplicate key"}`,
    );
  }
  if (e.code?.startsWith("22") || e.code?.startsWith("23")) {
    return badRequest(`${action} failed, nothing was changed: ${userNames(e.message ?? "")}`);
  }
  throw error;
}

/** Inserts checked rows; returns them as stored, with the `shown` columns only. */
async function insertChecked(
  svc: Services,
  def: ListDefinition,
  values: Map<Column, string | null>[],
  shown: Column[],
  audit: AuditOfWrite,
): Promise<Row[]> {
  const inserted: Row[] = [];
  const columns = def.columns;
  await svc.database.root.transaction().execute(async (trx) => {
    const width = Math.max(columns.length, 1);
    const batchSize = Math.max(1, Math.floor(30_000 / width));
    for (let start = 0; start < values.length; start += batchSize) {
      const batch = values.slice(start, start + batchSize);
      const given = columns.filter((c) => batch.some((row) => row.has(c)));
      const statement = given.length
        ? sql`insert into ${table(def)} (${sql.join(given.map(ref))}) values ${
          sql.join(batch.map((row) =>
            sql`(${
              sql.join(given.map((c) =>
                row.has(c) ? sql`cast(${row.get(c)} as ${sql.raw(typeSql(c))})` : sql`default`
              ))
            })`
          ))
        } returning ${selectList(columns)}`
        : sql`insert into ${table(def)} default values returning ${selectList(columns)}`;
      const { rows } = await statement.execute(trx);
      for (const r of rows as Record<string, string | null>[]) inserted.push(toRow(shown, r));
    }
    await recordWrite(svc, trx, audit, inserted.length);
  });
  return inserted;
}

/** Who wrote which list's rows, and how (the audit event), for the record of the write. */
interface AuditOfWrite {
  actor: Actor;
  def: ListDefinition;
  event: string;
}

/**
 * The audit record of a write to the list's rows, on the write's own
 * transaction: after a crash, every committed write has its record.
 */
async function recordWrite(
  svc: Services,
  trx: Kysely<Schema>,
  { actor, def, event }: AuditOfWrite,
  rows: number,
): Promise<void> {
  await recordFolderChange(svc, trx, actor, def.container, {
    event,
    detail: def.list.name,
    rows,
  });
}

/** After a write to the list's rows commits: counts go, here and on every instance. */
async function written(svc: Services, def: ListDefinition): Promise<void> {
  await svc.invalidate.publish({ kind: "rows", list: def.list.id });
}

/** Inserts rows in one transaction and returns them as stored. Needs Insert. */
export async function insertRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  rows: Record<string, unknown>[],
): Promise<Row[]> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.INSERT);
  if (!Array.isArray(rows) || rows.length === 0) throw badRequest("No rows to insert");
  if (rows.length > MAX_ROWS_PER_REQUEST) {
    throw badRequest(`At most ${MAX_ROWS_PER_REQUEST} rows per request`);
  }
  const { values, errors } = checkRows(svc, actor, def, rows, "insert");
  if (errors.length) throw rowErrors("Insert", errors);
  let inserted: Row[];
  try {
    inserted = await insertChecked(svc, def, values, visibleColumnsOf(def, actor), {
      actor,
      def,
      event: "rows.insert",
    });
  } catch (error) {
    throw dataError(def, error, "Insert");
  }
  await written(svc, def);
  return inserted;
}

/** Updates rows by key in one transaction; every key must exist. Needs Update. */
export async function updateRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  rows: Record<string, unknown>[],
): Promise<Row[]> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.UPDATE);
  if (!Array.isArray(rows) || rows.length === 0) throw badRequest("No rows to update");
  const { values, errors } = checkRows(svc, actor, def, rows, "update");
  if (errors.length) throw rowErrors("Update", errors);
  const shown = visibleColumnsOf(def, actor);
  const key = def.columns.find((c) => c.column_name === def.list.key_column)!;
  const updated: Row[] = [];
  try {
    await svc.database.root.transaction().execute(async (trx) => {
      for (const [index, row] of values.entries()) {
        const sets = [...row].filter(([c]) => c !== key).map(([c, v]) =>
          sql`${ref(c)} = cast(${v} as ${sql.raw(typeSql(c))})`
        );
        const keyValue = sql`cast(${row.get(key)} as ${sql.raw(typeSql(key))})`;
        const { rows: changed } = sets.length
          ? await sql<Record<string, string | null>>`update ${table(def)} set ${sql.join(sets)}
              where ${ref(key)} = ${keyValue} returning ${selectList(def.columns)}`.execute(trx)
          : await sql<Record<string, string | null>>`select ${selectList(def.columns)}
              from ${table(def)} where ${ref(key)} = ${keyValue}`.execute(trx);
        if (!changed.length) {
          throw rowErrors("Update", [{
            row: index + 1,
            column: key.name,
            message: `no row has ${key.name} = ${row.get(key)}`,
          }]);
        }
        updated.push(toRow(shown, changed[0]));
      }
      await recordWrite(svc, trx, { actor, def, event: "rows.update" }, updated.length);
    });
  } catch (error) {
    if (error instanceof LabgateError) throw error;
    throw dataError(def, error, "Update");
  }
  await written(svc, def);
  return updated;
}

/** Deletes rows by key in one transaction; every key must exist. Needs Delete. */
export async function deleteRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  keys: unknown[],
): Promise<Row[]> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.DELETE);
  if (!Array.isArray(keys) || keys.length === 0) throw badRequest("No rows to delete");
  const key = def.columns.find((c) => c.column_name === def.list.key_column)!;
  const errors: RowError[] = [];
  const texts = keys.map((k, i) => {
    const parsed = parseValue(key.type, k);
    if (!parsed.ok || parsed.text === null) {
      errors.push({
        row: i + 1,
        column: key.name,
        message: parsed.ok ? "key is empty" : parsed.error,
      });
    }
    return parsed.ok ? parsed.text : null;
  });
  if (errors.length) throw rowErrors("Delete", errors);
  const deleted = await svc.database.root.transaction().execute(async (trx) => {
    const { rows } = await sql<Record<string, string | null>>`delete from ${table(def)}
      where ${ref(key)} in (${
      sql.join(texts.map((t) => sql`cast(${t} as ${sql.raw(typeSql(key))})`))
    })
      returning ${selectList(def.columns)}`.execute(trx);
    const found = new Set(rows.map((r) => r[key.column_name]));
    const missing = [...new Set(texts)].filter((t) => !found.has(t as string));
    if (missing.length) {
      throw notFound(
        `Delete failed, nothing was changed: no row has ${key.name} = ${
          missing.slice(0, 10).join(", ")
        }`,
      );
    }
    await recordWrite(svc, trx, { actor, def, event: "rows.delete" }, rows.length);
    return rows.map((r) => toRow(visibleColumnsOf(def, actor), r));
  });
  await written(svc, def);
  return deleted;
}

/**
 * Imports CSV/TSV text (header row of column names, then data rows). Every
 * row is checked first; if any is bad, or the database refuses one, nothing
 * is imported and every error found is reported with its row number.
 */
export async function importRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  input: { text: string | Uint8Array; format?: ImportFormat },
): Promise<{ inserted: number }> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.INSERT);
  let file: Awaited<ReturnType<typeof readDelimited>>;
  try {
    file = await readDelimited(input.text, {
      format: input.format,
      limits: svc.config.importLimits,
    });
  } catch (error) {
    if (error instanceof LabgateError) throw error;
    throw badRequest(`Import failed, nothing was changed: ${(error as Error).message}`);
  }
  const { header, data, valid } = file;
  if (!valid) throw notUtf8(header, data);
  refuseWithheld(svc, actor, def, header, "Import");
  const unknown = header.filter((h) => !findColumn(def, h));
  if (unknown.length) {
    throw badRequest(
      `Import failed, nothing was changed: unknown column${unknown.length > 1 ? "s" : ""} ${
        unknown.map((u) => `"${u}"`).join(", ")
      } (the list has: ${visibleColumnsOf(def, actor).map((c) => c.name).join(", ")})`,
    );
  }
  const { values, errors } = await checkImported(svc, actor, def, header, data);
  const key = def.columns.find((c) => c.column_name === def.list.key_column)!;
  if (!def.list.key_auto) {
    const firstSeen = new Map<string | null, number>();
    values.forEach((row, i) => {
      const k = row.get(key) ?? null;
      if (k === null) return;
      const earlier = firstSeen.get(k);
      if (earlier !== undefined) {
        errors.push({
          row: i + 1,
          column: key.name,
          message: `duplicate key ${k} (also on row ${earlier})`,
        });
      } else firstSeen.set(k, i + 1);
    });
  }
  if (errors.length) {
    errors.sort((a, b) => a.row - b.row);
    throw rowErrors("Import", errors);
  }
  try {
    await insertChecked(svc, def, values, [], { actor, def, event: "rows.import" });
  } catch (error) {
    throw dataError(def, error, "Import");
  }
  await written(svc, def);
  return { inserted: values.length };
}
