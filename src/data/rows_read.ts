/**
 * Reading a list's rows: a page with filters, sort and paging and the
 * total (counts kept briefly), and every matching row a batch at a time.
 */
import { type RawBuilder, sql } from "kysely";
import { actorBits } from "../core/in_flight.ts";
import type { Actor } from "../core/actor.ts";
import { notFound } from "../errors.ts";
import { hasPermission, Permission } from "../security/permissions.ts";
import { phiLevelInForce } from "../security/phi.ts";
import type { Services } from "../services.ts";
import type { JsonValue } from "./column_types.ts";
import type { ListDefinition } from "./lists.ts";
import { withTimeLimit } from "./time_limit.ts";
import {
  auditPhi,
  type Column,
  MAX_ROWS_PER_REQUEST,
  refuseWithheld,
  requireColumn,
  type Row,
  selectList,
  table,
  toRow,
  visibleColumnsOf,
} from "./rows_columns.ts";
import { type Filter, filterSql } from "./rows_filters.ts";

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
