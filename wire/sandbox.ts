/**
 * The one module through which the wire server uses the SQL sandbox
 * (`src/sql/`): analysis and rewriting of client SQL, the per-lease session
 * setup and reset, and hiding physical names in messages.
 */
import { ensureFolderSchema, visibleContainers } from "../src/data/containers.ts";
import {
  capitalizedColumns,
  folderHasLists,
  listsGeneration,
  phiListColumns,
} from "../src/data/lists.ts";
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
  /**
   * SET or RESET of one named setting for the session, as its
   * CommandComplete tag: what it leaves depends only on the settings before
   * it, so it may be learned (session_leases.ts).
   */
  oneSetting: "SET" | "RESET" | null;
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
      { kind, name, holdCursor, deallocate, changesSettings, oneSetting, withheld },
    ) => ({
      holdCursor: kind === "declare" && holdCursor === true,
      changesSettings: CHANGES_SETTINGS.has(kind) || changesSettings === true,
      oneSetting: oneSetting ?? null,
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

/** What a session's scope reads from the database: the same for every session of a user, folder and level. */
interface ScopeFacts {
  folders: sql.FolderScope["readableFolders"];
  shownColumns: sql.ShownColumn[];
  withheld: sql.WithheldTable[];
}

/**
 * How long new sessions reuse what an earlier one read (a bound if an
 * instance misses a notification, as for list definitions): a role, group,
 * folder or user change (the permission epoch) or a list change (the lists
 * generation) on any instance drops it at once.
 */
const SCOPE_CACHE_MS = 1_000;
const SCOPE_CACHE_LIMIT = 10_000;

interface CachedFacts {
  facts: ScopeFacts;
  at: number;
  epoch: number;
  lists: number;
}

const scopeCaches = new WeakMap<Services, Map<string, CachedFacts>>();

async function scopeFacts(
  svc: Services,
  userId: number,
  containerId: number,
  phiLevel: DeclaredPhiLevel,
): Promise<ScopeFacts> {
  let cache = scopeCaches.get(svc);
  if (!cache) scopeCaches.set(svc, cache = new Map());
  const key = `${userId}:${containerId}:${phiLevel}`;
  const epoch = svc.permissions.epoch;
  const lists = listsGeneration(svc);
  const cached = cache.get(key);
  if (
    cached && cached.epoch === epoch && cached.lists === lists &&
    performance.now() - cached.at < SCOPE_CACHE_MS
  ) return cached.facts;
  const [folders, hasLists] = await Promise.all([
    readableFolders(svc, userId),
    folderHasLists(svc, containerId),
  ]);
  if (!hasLists) {
    let pending = ensuring.get(containerId);
    if (!pending) {
      pending = ensureFolderSchema(svc, svc.database.root, containerId)
        .finally(() => ensuring.delete(containerId));
      ensuring.set(containerId, pending);
    }
    await pending;
  }
  const [shown, withheld] = await Promise.all([
    capitalizedColumns(svc, containerId),
    withheldLists(svc, containerId, phiLevel),
  ]);
  const facts = { folders, shownColumns: shown, withheld };
  // A change while reading: the answer may be stale, so it is not kept.
  if (epoch === svc.permissions.epoch && lists === listsGeneration(svc)) {
    if (cache.size >= SCOPE_CACHE_LIMIT) cache.clear();
    cache.set(key, { facts, at: performance.now(), epoch, lists });
  }
  return facts;
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
  const facts = await scopeFacts(svc, user.id, container.id, phiLevel);
  return {
    containerId: container.id,
    containerPath: container.path,
    shownColumns: facts.shownColumns,
    phiLevel,
    withheldTables: facts.withheld,
    schema: folderSchema(container.id),
    role: folderRole(svc.database.installId, container.id),
    userId: user.id,
    userEmail: user.email,
    readableFolders: facts.folders,
    statementTimeoutMs: statementTimeoutMs(settings, own),
  };
}
