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

function isColumnPhiLevel(value: unknown): value is ColumnPhiLevel {
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
interface PhiCarrier {
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

/** A list column as SQL meets it: its table, stored name, name as defined and level. */
export interface SqlColumn {
  table: string;
  /** The stored (lower-case) name SQL reads. */
  column: string;
  /** As the list defines it, e.g. `MRN`: what refusals name. */
  name: string;
  phi: string;
}

/** What SQL reads of a table at a level: its visible columns, and why each other is refused. */
interface SqlTableRule<C extends SqlColumn> {
  table: string;
  /** Stored names, in the order given: what `select *` and a whole-row reference read. */
  visible: string[];
  withheld: (C & { message: string })[];
}

/**
 * The tables of `columns` (one entry per column, in column order) that have
 * columns above `inForce`, each with the columns SQL reads in their place
 * and the refusal of each withheld column (SQL door, LabKey executeSql).
 * Tables without such columns are left out: SQL reads them as they are.
 */
export function sqlTableRules<C extends SqlColumn>(
  columns: readonly C[],
  inForce: DeclaredPhiLevel,
): SqlTableRule<C>[] {
  const byTable = new Map<string, C[]>();
  for (const column of columns) {
    byTable.set(column.table, [...byTable.get(column.table) ?? [], column]);
  }
  return [...byTable].flatMap(([table, all]) => {
    const { visible } = visibleColumns(all, inForce);
    if (visible.length === all.length) return [];
    const withheld = all.filter((c) => !visible.includes(c))
      .map((c) => ({ ...c, message: `${withheldMessage(c)} (your level: ${inForce})` }));
    return [{ table, visible: visible.map((c) => c.column), withheld }];
  });
}

/** Why a request may not name a withheld column: its name and the level it needs, never data. */
export function withheldMessage(column: { name: string; phi: string }): string {
  return column.phi === "restricted"
    ? `Column "${column.name}" is restricted: no request can read or write it`
    : `Column "${column.name}" needs PHI level ${column.phi} (${
      PHI_LEVEL_LABELS[column.phi as ColumnPhiLevel] ?? column.phi
    }): declare it at sign-in or use a key made at that level`;
}
