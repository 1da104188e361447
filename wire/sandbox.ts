/**
 * The one module through which the wire server uses the SQL sandbox
 * (`src/sql/`): analysis and rewriting of client SQL, the per-lease session
 * setup and reset, and hiding physical names in messages.
 */
import { ensureFolderSchema, visibleContainers } from "../src/data/containers.ts";
import { capitalizedColumns, folderHasLists, phiListColumns } from "../src/data/lists.ts";
import { folderRole, folderSchema } from "../src/data/physical.ts";
import type { Container, User } from "../src/db/schema.ts";
import { type DeclaredPhiLevel, sqlTableRules } from "../src/security/phi.ts";
import type { Services } from "../src/services.ts";
import * as sql from "../src/sql/mod.ts";
import { type SqlDoorSettings, statementTimeoutMs } from "../src/doors/sql/settings.ts";

export type { FolderScope, SqlRefusal } from "../src/sql/mod.ts";
export {
  catalogContextSql,
  hidePhysicalNames,
  sessionResetSql,
  sessionSetupSql,
  shownServerVersion,
} from "../src/sql/mod.ts";

/** What the wire server needs to know about each statement of a client's text. */
export interface StatementInfo {
  /** DECLARE … WITH HOLD: the cursor outlives the transaction, so the session stays pinned. */
  holdCursor: boolean;
  /** SET / RESET / DISCARD: session settings may change and must be captured for replay. */
  changesSettings: boolean;
  /** Session state the door cannot replay (SQL PREPARE): the backend stays pinned. */
  pins: boolean;
  /**
   * BEGIN, DECLARE … WITH HOLD, SQL PREPARE: the client keeps the backend
   * across its think time, which takes one of the user's pinned shares.
   */
  holdsBackend: boolean;
  /** DEALLOCATE: the statement name, or null for DEALLOCATE ALL and DISCARD ALL. */
  deallocate?: string | null;
  /**
   * A cursor or SQL prepared statement (`cursor "c"`, `prepared statement "p"`)
   * that this statement defines (DECLARE, PREPARE), reads (FETCH, MOVE,
   * EXECUTE) or ends (CLOSE, DEALLOCATE). Its columns were fixed when it was
   * defined: a PHI level changed since must not let it read on.
   */
  named?: { name: string; use: "defines" | "reads" | "ends" };
  /** The lists it reads without their columns above the PHI level: `t (a, b)`. */
  withheld?: string[];
  /** A read that leaves no session state: may run on a backend between other clients' statements. */
  shareable: boolean;
}

export type Analysis = sql.Analysis<StatementInfo>;

const CHANGES_SETTINGS = new Set<sql.StatementKind>(["set", "reset", "discard"]);
/** COPY is left out: an export is long, and nobody should queue behind it. */
const SHAREABLE = new Set<sql.StatementKind>(["select", "show", "explain", "empty"]);

/** What the wire server needs of each analysis the sandbox has cached: made once per analysis. */
const infos = new WeakMap<sql.StatementInfo[], StatementInfo[]>();

const NAMED_USES: Partial<
  Record<
    sql.StatementKind,
    ["cursor" | "prepared statement", NonNullable<StatementInfo["named"]>["use"]]
  >
> = {
  declare: ["cursor", "defines"],
  fetch: ["cursor", "reads"],
  move: ["cursor", "reads"],
  close: ["cursor", "ends"],
  prepare: ["prepared statement", "defines"],
  execute: ["prepared statement", "reads"],
  deallocate: ["prepared statement", "ends"],
};

function named(kind: sql.StatementKind, name: string | undefined): StatementInfo["named"] {
  const use = NAMED_USES[kind];
  return use && name !== undefined ? { name: `${use[0]} "${name}"`, use: use[1] } : undefined;
}

/** Rewrites client SQL for the folder, or refuses it. */
export function analyze(text: string, scope: sql.FolderScope): Analysis {
  const analysis = sql.analyze(text, scope);
  if (!analysis.ok) return analysis;
  let statements = infos.get(analysis.statements);
  if (!statements) {
    statements = analysis.statements.map((
      { kind, name, holdCursor, deallocate, changesSettings, withheld },
    ) => ({
      holdCursor: kind === "declare" && holdCursor === true,
      changesSettings: CHANGES_SETTINGS.has(kind) || changesSettings === true,
      pins: kind === "prepare",
      holdsBackend: kind === "begin" || kind === "prepare" ||
        (kind === "declare" && holdCursor === true),
      deallocate,
      named: named(kind, name ?? deallocate ?? undefined),
      withheld,
      shareable: SHAREABLE.has(kind) && !changesSettings,
    }));
    infos.set(analysis.statements, statements);
  }
  return { ok: true, text: analysis.text, positionMap: analysis.positionMap, statements };
}

/** The folders the user can read, by path: what pg_database and core.containers list. */
export async function readableFolders(
  svc: Services,
  userId: number,
): Promise<sql.FolderScope["readableFolders"]> {
  const folders = await visibleContainers(svc, { userId });
  return folders.map(({ id, path }) => ({ id, path }));
}

const ensuring = new Map<number, Promise<void>>();

/**
 * The folder's lists with columns above `phiLevel`, each with the columns
 * SQL reads instead (src/security/phi.ts sqlTableRules). Physical columns in
 * their order, so a withheld list's `select *` keeps the table's order.
 */
export async function withheldLists(
  svc: Services,
  containerId: number,
  phiLevel: DeclaredPhiLevel,
): Promise<sql.WithheldTable[]> {
  return sqlTableRules(await phiListColumns(svc, containerId), phiLevel);
}

/**
 * The scope of a session of `user` in `container` (which the user can read).
 * Creates the folder's schema and role when the folder has no list yet, so
 * a session can be set up for it.
 */
export async function folderScope(
  svc: Services,
  user: User,
  container: Container,
  settings: SqlDoorSettings,
  own: { phiLevel: DeclaredPhiLevel; statementTimeoutSeconds: number | null },
): Promise<sql.FolderScope> {
  const { phiLevel } = own;
  const folders = await readableFolders(svc, user.id);
  if (!await folderHasLists(svc, container.id)) {
    let pending = ensuring.get(container.id);
    if (!pending) {
      pending = ensureFolderSchema(svc, svc.database.root, container.id)
        .finally(() => ensuring.delete(container.id));
      ensuring.set(container.id, pending);
    }
    await pending;
  }
  return {
    containerId: container.id,
    containerPath: container.path,
    shownColumns: await capitalizedColumns(svc, container.id),
    phiLevel,
    withheldTables: await withheldLists(svc, container.id, phiLevel),
    schema: folderSchema(container.id),
    role: folderRole(svc.database.installId, container.id),
    userId: user.id,
    userEmail: user.email,
    readableFolders: folders,
    statementTimeoutMs: statementTimeoutMs(settings, own),
  };
}
