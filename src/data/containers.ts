/** Folders (containers): the tree, its permission policies and per-folder schemas. */
import { actorBits } from "../core/in_flight.ts";
import { type Kysely, sql, type Transaction } from "kysely";
import { type Actor, auditActor } from "../core/actor.ts";
import type { Container, Schema } from "../db/schema.ts";
import { badRequest, forbidden, notFound } from "../errors.ts";
import { hasPermission, isRoleName, Permission, ROLES } from "../security/permissions.ts";
import type { Services } from "../services.ts";
import { folderRole, folderSchema } from "./physical.ts";

const FOLDER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** `/home//assays/` → `/home/assays`; throws on names a folder cannot have. */
function normalizePath(path: string): string {
  const parts = path.split("/").filter((p) => p !== "");
  for (const part of parts) {
    if (!FOLDER_NAME.test(part)) throw badRequest(`"${part}" is not a valid folder name`);
  }
  return "/" + parts.join("/");
}

export function parentPath(path: string): string | null {
  if (path === "/") return null;
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/** How long a folder found by path is kept (a bound if an instance misses a notification). */
const BY_PATH_CACHE_MS = 1_000;
const BY_PATH_CACHE_LIMIT = 10_000;

interface CachedFolder {
  container: Container | undefined;
  at: number;
  epoch: number;
}

const byPath = new WeakMap<Services, Map<string, CachedFolder>>();

/**
 * A folder by path (any case). Every request that names a folder asks, so
 * answers are kept for a second and dropped at once by any folder or role
 * change on any instance (they move the permission epoch).
 */
export async function getContainerByPath(
  svc: Services,
  path: string,
): Promise<Container | undefined> {
  let key: string;
  try {
    key = normalizePath(path).toLowerCase();
  } catch {
    return undefined;
  }
  let cache = byPath.get(svc);
  if (!cache) byPath.set(svc, cache = new Map());
  const cached = cache.get(key);
  if (
    cached && cached.epoch === svc.permissions.epoch &&
    performance.now() - cached.at < BY_PATH_CACHE_MS
  ) {
    return cached.container;
  }
  const epoch = svc.permissions.epoch;
  const container = await svc.db.selectFrom("containers").selectAll()
    .where(sql`lower(path)`, "=", key).executeTakeFirst();
  // A change while reading moved the epoch: the answer may be stale, so it is not kept.
  if (epoch === svc.permissions.epoch) {
    if (cache.size >= BY_PATH_CACHE_LIMIT) cache.clear();
    cache.set(key, { container, at: performance.now(), epoch });
  }
  return container;
}

/**
 * The audit record of a change in a folder, written on the change's own
 * transaction: a crash cannot keep the change and lose its record.
 */
export function recordFolderChange(
  svc: Services,
  trx: Kysely<Schema>,
  actor: Actor,
  container: { id: number; path: string },
  entry: { event: string; detail?: string; rows?: number | null },
): Promise<void> {
  return svc.audit.recordIn(trx, {
    ...auditActor(actor),
    outcome: "ok",
    containerId: container.id,
    containerPath: container.path,
    ...entry,
  });
}

async function getContainer(svc: Services, id: number): Promise<Container | undefined> {
  return await svc.db.selectFrom("containers").selectAll().where("id", "=", id).executeTakeFirst();
}

/**
 * The container and the actor's bits on it. A folder the actor cannot read
 * answers exactly like a missing one (404), so its existence does not leak;
 * a readable folder without the wanted bits answers 403.
 */
export async function requireContainer(
  svc: Services,
  actor: Actor | null,
  ref: { path: string } | { id: number },
  wanted: number = Permission.READ,
): Promise<{ container: Container; bits: number }> {
  const container = "path" in ref
    ? await getContainerByPath(svc, ref.path)
    : await getContainer(svc, ref.id);
  const label = "path" in ref ? ref.path : `#${ref.id}`;
  const bits = container ? await actorBits(svc, actor, container.id) : 0;
  if (!container || !hasPermission(bits, Permission.READ)) {
    throw notFound(`Folder ${label} does not exist or you cannot read it`);
  }
  if (!hasPermission(bits, wanted)) {
    throw forbidden(`You do not have permission to do that in ${container.path}`);
  }
  return { container, bits };
}

interface VisibleContainer extends Container {
  bits: number;
}

/** Every folder the actor can read, in path order, with their bits. */
export async function visibleContainers(
  svc: Services,
  actor: Pick<Actor, "userId">,
): Promise<VisibleContainer[]> {
  const bits = await svc.permissions.resolveAll(actor.userId);
  const ids = [...bits].filter(([, b]) => hasPermission(b, Permission.READ)).map(([id]) => id);
  if (!ids.length) return [];
  const rows = await svc.db.selectFrom("containers").selectAll().where("id", "in", ids)
    .orderBy("path").execute();
  return rows.map((c) => ({ ...c, bits: bits.get(c.id) ?? 0 }));
}

/** Creates a folder under `parent`; needs Admin on the parent. */
export async function createContainer(
  svc: Services,
  actor: Actor,
  input: { parentPath: string; name: string; description?: string; inheritPolicy?: boolean },
): Promise<Container> {
  const { container: parent } = await requireContainer(
    svc,
    actor,
    { path: input.parentPath },
    Permission.ADMIN,
  );
  const name = input.name.trim();
  if (!FOLDER_NAME.test(name)) {
    throw badRequest(
      `"${name}" is not a valid folder name: use letters, digits, ".", "_" or "-" (at most 100)`,
    );
  }
  const path = (parent.path === "/" ? "" : parent.path) + "/" + name;
  if (await getContainerByPath(svc, path)) throw badRequest(`Folder ${path} already exists`);
  const created = await svc.db.transaction().execute(async (trx) => {
    const created = await trx.insertInto("containers").values({
      parent_id: parent.id,
      name,
      path,
      description: input.description ?? "",
      inherit_policy: input.inheritPolicy ?? true,
      created_by: actor.userId,
    }).returningAll().executeTakeFirstOrThrow();
    await recordFolderChange(svc, trx, actor, created, { event: "folder.create" });
    return created;
  });
  await svc.invalidate.publish({ kind: "permissions" });
  return created;
}

/** Deletes a folder, its subfolders and all their lists; needs Admin on the folder. */
export async function deleteContainer(svc: Services, actor: Actor, path: string): Promise<void> {
  const { container } = await requireContainer(svc, actor, { path }, Permission.ADMIN);
  if (container.path === "/" || container.path === "/home") {
    throw badRequest(`Folder ${container.path} cannot be deleted`);
  }
  const doomed = await svc.db.selectFrom("containers").select("id")
    .where((eb) => eb.or([eb("id", "=", container.id), eb("path", "like", `${container.path}/%`)]))
    .execute();
  await svc.db.transaction().execute(async (trx) => {
    for (const { id } of doomed) await dropFolderSchema(svc, trx, id);
    await trx.deleteFrom("containers").where("id", "=", container.id).execute();
    await recordFolderChange(svc, trx, actor, container, { event: "folder.delete" });
  });
  await svc.invalidate.publish({ kind: "permissions" });
}

interface RoleAssignment {
  principalId: number;
  kind: "user" | "group";
  name: string;
  role: string;
}

interface Policy {
  /** The folder whose assignments apply (this one, or the ancestor it inherits from). */
  source: Container;
  inherit: boolean;
  assignments: RoleAssignment[];
}

/** The policy that applies to `container`. */
export async function getPolicy(
  svc: Services,
  container: Container,
  /** A transaction that changed the policy, to read it before it commits. */
  db: Kysely<Schema> = svc.db,
): Promise<Policy> {
  let source = container;
  while (source.inherit_policy && source.parent_id !== null) {
    source = await db.selectFrom("containers").selectAll().where("id", "=", source.parent_id)
      .executeTakeFirstOrThrow();
  }
  const rows = await db.selectFrom("role_assignments as ra")
    .innerJoin("principals as p", "p.id", "ra.principal_id")
    .leftJoin("users as u", "u.id", "p.id")
    .leftJoin("groups as g", "g.id", "p.id")
    .select(["ra.principal_id", "ra.role", "p.kind", "u.email", "g.name"])
    .where("ra.container_id", "=", source.id)
    .orderBy("p.kind").orderBy("ra.principal_id").execute();
  return {
    source,
    inherit: container.inherit_policy && container.parent_id !== null,
    assignments: rows.map((r) => ({
      principalId: r.principal_id,
      kind: r.kind,
      name: (r.kind === "user" ? r.email : r.name) ?? "",
      role: r.role,
    })),
  };
}

/**
 * Replaces a folder's policy: inherit the parent's, or its own assignments.
 * Needs Admin on the folder. Site Admin can only be granted on `/`.
 */
export async function setPolicy(
  svc: Services,
  actor: Actor,
  path: string,
  input: { inherit: boolean; assignments: { principalId: number; role: string }[] },
): Promise<Policy> {
  const { container } = await requireContainer(svc, actor, { path }, Permission.ADMIN);
  if (container.parent_id === null && input.inherit) {
    throw badRequest("The root folder has no parent to inherit from");
  }
  for (const a of input.assignments) {
    if (!isRoleName(a.role)) {
      throw badRequest(
        `Unknown role "${a.role}": use one of ${Object.keys(ROLES).join(", ")}`,
      );
    }
    if (ROLES[a.role].site && container.parent_id !== null) {
      throw badRequest("Site Admin can only be assigned on the root folder /");
    }
    if (ROLES[a.role].site && !await svc.permissions.isSiteAdmin(actor.userId)) {
      throw forbidden("Only a site admin can grant Site Admin");
    }
  }
  const ids = [...new Set(input.assignments.map((a) => a.principalId))];
  if (ids.length) {
    const found = await svc.db.selectFrom("principals").select("id").where("id", "in", ids)
      .execute();
    const missing = ids.filter((id) => !found.some((f) => f.id === id));
    if (missing.length) throw badRequest(`No user or group with id ${missing.join(", ")}`);
  }
  const before = await getPolicy(svc, container);
  const after = await svc.db.transaction().execute(async (trx) => {
    await trx.updateTable("containers").set({ inherit_policy: input.inherit })
      .where("id", "=", container.id).execute();
    await trx.deleteFrom("role_assignments").where("container_id", "=", container.id).execute();
    const rows = input.inherit ? [] : dedupe(input.assignments).map((a) => ({
      container_id: container.id,
      principal_id: a.principalId,
      role: a.role,
    }));
    if (rows.length) await trx.insertInto("role_assignments").values(rows).execute();
    const after = await getPolicy(svc, { ...container, inherit_policy: input.inherit }, trx);
    // On the change's own transaction: a crash cannot keep the change and lose its record.
    await recordFolderChange(svc, trx, actor, container, {
      event: "permissions.change",
      detail: JSON.stringify({
        before: { inherit: before.inherit, assignments: brief(before.assignments) },
        after: { inherit: after.inherit, assignments: brief(after.assignments) },
      }),
    });
    return after;
  });
  await svc.invalidate.publish({ kind: "permissions" });
  return after;
}

function dedupe<T extends { principalId: number; role: string }>(list: T[]): T[] {
  const seen = new Set<string>();
  return list.filter((a) => {
    const key = `${a.principalId}:${a.role}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function brief(assignments: RoleAssignment[]) {
  return assignments.map((a) => `${a.kind}:${a.name}:${a.role}`);
}

/**
 * Creates the folder's list schema and its read-only role if missing.
 * Called in the transaction that creates the folder's first list.
 */
export async function ensureFolderSchema(
  svc: Services,
  trx: Kysely<Schema> | Transaction<Schema>,
  containerId: number,
): Promise<void> {
  const schema = folderSchema(containerId);
  const role = folderRole(svc.database.installId, containerId);
  await sql.raw(`create schema if not exists ${schema}`).execute(trx);
  const exists = await sql<
    { n: number }
  >`select count(*)::int as n from pg_roles where rolname = ${role}`
    .execute(trx);
  if (exists.rows[0].n === 0) {
    await sql.raw(`create role ${role} nologin`).execute(trx);
  }
  await sql.raw(`grant usage on schema ${schema} to ${role}`).execute(trx);
}

async function dropFolderSchema(
  svc: Services,
  trx: Transaction<Schema>,
  containerId: number,
): Promise<void> {
  const role = folderRole(svc.database.installId, containerId);
  await sql.raw(`drop schema if exists ${folderSchema(containerId)} cascade`).execute(trx);
  const exists = await sql<
    { n: number }
  >`select count(*)::int as n from pg_roles where rolname = ${role}`
    .execute(trx);
  if (exists.rows[0].n > 0) {
    await sql.raw(`drop owned by ${role}`).execute(trx);
    await sql.raw(`drop role ${role}`).execute(trx);
  }
}
