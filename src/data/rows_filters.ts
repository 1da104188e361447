/**
 * Filters on a list's rows: LabKey's operators, as SQL conditions on typed
 * values, and from `<column>~<op>=<value>` parameters.
 */
import { type RawBuilder, sql } from "kysely";
import { badRequest } from "../errors.ts";
import { parseValue } from "./column_types.ts";
import type { ListDefinition } from "./lists.ts";
import { type Column, ref, requireColumn, typeSql } from "./rows_columns.ts";

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

function typedValue(column: Column, value: unknown): RawBuilder<unknown> {
  const parsed = parseValue(column.type, value);
  if (!parsed.ok) throw badRequest(`Filter on ${column.name}: ${parsed.error}`);
  return sql`cast(${parsed.text} as ${sql.raw(typeSql(column))})`;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (m) => "\\" + m);
}

export function filterSql(def: ListDefinition, filter: Filter): RawBuilder<unknown> {
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
