/**
 * What the read, write and import parts of a list's rows share: columns by
 * name, the PHI check on named columns, SQL names and casts, rows as
 * returned, and the error shapes of a refused write.
 */
import { type RawBuilder, sql } from "kysely";
import { type Actor, auditActor } from "../core/actor.ts";
import { badRequest, forbidden, type LabgateError } from "../errors.ts";
import {
  columnVisible,
  type DeclaredPhiLevel,
  phiLevelInForce,
  withheldMessage,
} from "../security/phi.ts";
import type { Services } from "../services.ts";
import { type JsonValue, outputValue } from "./column_types.ts";
import type { ListDefinition } from "./lists.ts";

export type Row = Record<string, JsonValue>;
export type Column = ListDefinition["columns"][number];

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

export function requireColumn(def: ListDefinition, name: string): Column {
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
export function refuseWithheld(
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

export function auditPhi(
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

export const table = (def: ListDefinition) => sql.table(def.qualifiedTable);
export const ref = (c: Column) => sql.ref(c.column_name);

export function selectList(columns: Column[]): RawBuilder<unknown> {
  return sql.join(columns.map((c) => sql`${ref(c)}::text as ${sql.ref(c.column_name)}`));
}

export function toRow(columns: Column[], record: Record<string, string | null>): Row {
  const row: Row = {};
  for (const c of columns) row[c.name] = outputValue(c.type, record[c.column_name]);
  return row;
}

export function typeSql(column: Column): string {
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

export function rowErrors(action: string, errors: RowError[]): LabgateError {
  const first = errors[0];
  const where = `Row ${first.row}${first.column ? `, column ${first.column}` : ""}`;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : "";
  return badRequest(`${action} failed, nothing was changed: ${where}: ${first.message}${more}`, {
    errors: errors.slice(0, MAX_REPORTED_ERRORS),
  });
}

/** Turns a database error on list data into a clear message with no physical names. */
export function dataError(def: ListDefinition, error: unknown, action: string): LabgateError {
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
