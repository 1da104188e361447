/**
 * PHI levels: the one decision every door makes about a list column. A
 * column has a level (`not_phi`, `limited`, `full`, or `restricted`: never
 * shown through any door, e.g. a key used only to join internally), and a
 * request has the level in force for it (what its credential declared or was
 * given). A column is visible when its level is at or below the level in
 * force; a restricted column never is.
 */
import { badRequest } from "../errors.ts";

/** Levels a column can have, in order; `restricted` is above every level in force. */
export const COLUMN_PHI_LEVELS = ["not_phi", "limited", "full", "restricted"] as const;
export type ColumnPhiLevel = typeof COLUMN_PHI_LEVELS[number];

/** Levels a request can have in force: a login declaration, a key's or an app's level. */
export const DECLARED_PHI_LEVELS = ["not_phi", "limited", "full"] as const;
export type DeclaredPhiLevel = typeof DECLARED_PHI_LEVELS[number];

/** How pages and errors name each level. */
export const PHI_LEVEL_LABELS: Record<ColumnPhiLevel, string> = {
  not_phi: "Not PHI",
  limited: "Limited PHI",
  full: "Full PHI",
  restricted: "Restricted (never shown)",
};

const RANK: Record<ColumnPhiLevel, number> = { not_phi: 0, limited: 1, full: 2, restricted: 3 };

export function isColumnPhiLevel(value: unknown): value is ColumnPhiLevel {
  return typeof value === "string" && Object.hasOwn(RANK, value);
}

export function isDeclaredPhiLevel(value: unknown): value is DeclaredPhiLevel {
  return isColumnPhiLevel(value) && value !== "restricted";
}

/** A column level from user input (undefined → `not_phi`); 400 naming the choices otherwise. */
export function parseColumnPhiLevel(value: unknown, column: string): ColumnPhiLevel {
  if (value === undefined || value === null || value === "") return "not_phi";
  if (!isColumnPhiLevel(value)) {
    throw badRequest(
      `Column "${column}" has unknown PHI level "${value}": use one of ${
        COLUMN_PHI_LEVELS.join(", ")
      }`,
    );
  }
  return value;
}

/** A level in force from user input (undefined → `fallback`); 400 naming the choices otherwise. */
export function parseDeclaredPhiLevel(
  value: unknown,
  fallback: DeclaredPhiLevel = "not_phi",
): DeclaredPhiLevel {
  if (value === undefined || value === null || value === "") return fallback;
  if (!isDeclaredPhiLevel(value)) {
    throw badRequest(`Unknown PHI level "${value}": use one of ${DECLARED_PHI_LEVELS.join(", ")}`);
  }
  return value;
}

/** What of an actor (src/core/actor.ts) says its level: the credential's, the declaration. */
export interface PhiCarrier {
  phiLevel?: string | null;
  compliance?: { phiLevel?: string } | null;
}

/** Login declarations name "not PHI" `none` (src/auth/compliance.ts). */
const DECLARED: Record<string, DeclaredPhiLevel> = {
  none: "not_phi",
  limited: "limited",
  full: "full",
};

/**
 * The level in force for a request: the level its credential carries
 * (`actor.phiLevel`: an API key's, an external app's), else the PHI level its
 * session declared at login (sessions and session keys), else `not_phi`.
 */
export function phiLevelInForce(
  actor: PhiCarrier | null | undefined,
): DeclaredPhiLevel {
  if (!actor) return "not_phi";
  if (isDeclaredPhiLevel(actor.phiLevel)) return actor.phiLevel;
  const declared = actor.compliance?.phiLevel;
  return (declared && Object.hasOwn(DECLARED, declared)) ? DECLARED[declared] : "not_phi";
}

/** Whether a column at `column` may be shown to a request with `inForce`. */
export function columnVisible(column: string, inForce: DeclaredPhiLevel): boolean {
  const level = isColumnPhiLevel(column) ? column : "restricted";
  return level !== "restricted" && RANK[level] <= RANK[inForce];
}

/** Whether `level` is at or below `ceiling` (an API key may not exceed its creator's level). */
export function levelWithin(level: DeclaredPhiLevel, ceiling: DeclaredPhiLevel): boolean {
  return RANK[level] <= RANK[ceiling];
}

/** What a list's columns look like to a request: the visible ones and the names withheld. */
export function visibleColumns<C extends { name: string; phi: string }>(
  columns: readonly C[],
  inForce: DeclaredPhiLevel,
): { visible: C[]; withheld: string[] } {
  const visible = columns.filter((c) => columnVisible(c.phi, inForce));
  const withheld = columns.filter((c) => !columnVisible(c.phi, inForce)).map((c) => c.name);
  return { visible, withheld };
}

/**
 * Why SQL (the SQL door, LabKey executeSql) may not read `table` at
 * `inForce`: its withheld columns, each with the level it needs. SQL reaches
 * a table's columns in ways a column check alone does not see (`select *`,
 * a whole-row reference, row_to_json(t), COPY, statistics), so until the
 * sandbox hides columns one by one, a list with withheld columns is refused
 * whole; its other columns stay readable through the JSON and LabKey APIs.
 */
export function withheldTableMessage(
  table: string,
  withheld: readonly { name: string; phi: string }[],
  inForce: DeclaredPhiLevel,
): string {
  const needs = withheld.map((c) => `"${c.name}" (${c.phi})`).join(", ");
  return `List "${table}" has columns above PHI level ${inForce}: ${needs}. ` +
    "SQL cannot read it at this level: declare a higher level at sign-in or use a key " +
    "made at that level (its other columns are readable through the JSON API)";
}

/**
 * The tables of `columns` (one row per list column) that SQL may not read at
 * `inForce`, each with why (withheldTableMessage).
 */
export function withheldTables(
  columns: readonly { table: string; name: string; phi: string }[],
  inForce: DeclaredPhiLevel,
): Map<string, string> {
  const byTable = new Map<string, { name: string; phi: string }[]>();
  for (const column of columns) {
    if (columnVisible(column.phi, inForce)) continue;
    byTable.set(column.table, [...byTable.get(column.table) ?? [], column]);
  }
  return new Map(
    [...byTable].map((
      [table, withheld],
    ) => [table, withheldTableMessage(table, withheld, inForce)]),
  );
}

/** Why a request may not name a withheld column: its name and the level it needs, never data. */
export function withheldMessage(column: { name: string; phi: string }): string {
  return column.phi === "restricted"
    ? `Column "${column.name}" is restricted: no request can read or write it`
    : `Column "${column.name}" needs PHI level ${column.phi} (${
      PHI_LEVEL_LABELS[column.phi as ColumnPhiLevel] ?? column.phi
    }): declare it at sign-in or use a key made at that level`;
}
