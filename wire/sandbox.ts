/**
 * The one module through which the wire server uses the SQL sandbox
 * (`src/sql/`): analysis and rewriting of client SQL, the per-lease session
 * setup and reset, and hiding physical names in messages.
 */
import { sql as rawSql } from "kysely";
import { ensureFolderSchema } from "../src/data/containers.ts";
import { listsGeneration } from "../src/data/lists.ts";
import { folderRole, folderSchema } from "../src/data/physical.ts";
import type { Container, User } from "../src/db/schema.ts";
import { Permission } from "../src/security/permissions.ts";
import { type DeclaredPhiLevel, type SqlColumn, sqlTableRules } from "../src/security/phi.ts";
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
  /** A read that leaves no session state: may run on a backend between other clients' statements. */
  shareable: boolean;
}

export type Analysis = sql.Analysis<StatementInfo>;

const CHANGES_SETTINGS = new Set<sql.StatementKind>(["set", "reset", "discard"]);
/** COPY is left out: an export is long, and nobody should queue behind it. */
const SHAREABLE = new Set<sql.StatementKind>(["select", "show", "explain", "empty"]);

/** What the wire server needs of each analysis the sandbox has cached: made once per analysis. */
const infos = new WeakMap<sql.StatementInfo[], StatementInfo[]>();

/** Rewrites client SQL for the folder, or refuses it. */
export function analyze(text: string, scope: sql.FolderScope): Analysis {
  const analysis = sql.analyze(text, scope);
  if (!analysis.ok) return analysis;
  let statements = infos.get(analysis.statements);
  if (!statements) {
    statements = analysis.statements.map(({ kind, holdCursor, deallocate, changesSettings }) => ({
      holdCursor: kind === "declare" && holdCursor === true,
      changesSettings: CHANGES_SETTINGS.has(kind) || changesSettings === true,
      pins: kind === "prepare",
      holdsBackend: kind === "begin" || kind === "prepare" ||
        (kind === "declare" && holdCursor === true),
      deallocate,
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
  const bits = await svc.permissions.resolveAll(userId);
  const readable = [...bits].filter(([, b]) => (b & Permission.READ) !== 0).map(([id]) => id);
  return readable.length
    ? await svc.db.selectFrom("containers").select(["id", "path"]).where("id", "in", readable)
      .orderBy("path").execute()
    : [];
}

const ensuring = new Map<number, Promise<void>>();

/** The folder's list columns defined with capitals, by table OID and column number. */
async function shownColumns(svc: Services, containerId: number): Promise<sql.ShownColumn[]> {
  const { rows } = await rawSql<sql.ShownColumn>`
    select c.oid::int as relation, a.attnum::int as attnum, l.table_name as table, lc.name
    from lg_app.lists l
    join lg_app.list_columns lc on lc.list_id = l.id and lc.name <> lc.column_name
    join pg_catalog.pg_class c on c.relname = l.table_name
      and c.relnamespace = ${folderSchema(containerId)}::regnamespace
    join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = lc.column_name
    where l.container_id = ${containerId}`.execute(svc.database.root);
  return rows;
}

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
  const { rows } = await rawSql<SqlColumn & { relation: number; attnum: number }>`
    select l.table_name as table, a.attname as column, coalesce(lc.name, a.attname) as name,
      coalesce(lc.phi, 'restricted') as phi, c.oid::int as relation, a.attnum::int as attnum
    from lg_app.lists l
    join pg_catalog.pg_class c on c.relname = l.table_name
      and c.relnamespace = ${folderSchema(containerId)}::regnamespace
    join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    left join lg_app.list_columns lc on lc.list_id = l.id and lc.column_name = a.attname
    where l.container_id = ${containerId} and exists (select 1 from lg_app.list_columns p
      where p.list_id = l.id and p.phi <> 'not_phi')
    order by l.table_name, a.attnum`.execute(svc.database.root);
  return sqlTableRules(rows, phiLevel);
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
    svc.db.selectFrom("lists").select("id").where("container_id", "=", containerId).limit(1)
      .executeTakeFirst(),
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
    shownColumns(svc, containerId),
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
