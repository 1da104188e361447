/**
 * Permission bits and roles, and the one function that answers "what may
 * principal P do in container C". Every door calls `resolve()`.
 */
import { type Kysely, sql } from "kysely";
import type { Schema } from "../db/schema.ts";

/** The bits are part of the remote-login contract: never renumber them. */
export const Permission = {
  READ: 0x1,
  INSERT: 0x2,
  UPDATE: 0x4,
  DELETE: 0x8,
  ADMIN: 0x8000,
} as const;
export type PermissionName = keyof typeof Permission;

export const ALL_PERMISSIONS = Permission.READ | Permission.INSERT | Permission.UPDATE |
  Permission.DELETE | Permission.ADMIN;

type RoleName = "reader" | "author" | "editor" | "folder_admin" | "site_admin";

interface RoleDefinition {
  label: string;
  bits: number;
  /** Site-wide: holds on every folder whatever its policy. Assigned on `/` only. */
  site?: boolean;
}

export const ROLES: Record<RoleName, RoleDefinition> = {
  reader: { label: "Reader", bits: Permission.READ },
  author: { label: "Author", bits: Permission.READ | Permission.INSERT },
  editor: {
    label: "Editor",
    bits: Permission.READ | Permission.INSERT | Permission.UPDATE | Permission.DELETE,
  },
  folder_admin: { label: "Folder Admin", bits: ALL_PERMISSIONS },
  site_admin: { label: "Site Admin", bits: ALL_PERMISSIONS, site: true },
};

export function isRoleName(name: string): name is RoleName {
  return Object.hasOwn(ROLES, name);
}

/** Names of the bits set in `bits`, e.g. ["READ", "INSERT"]. */
export function permissionNames(bits: number): PermissionName[] {
  return (Object.keys(Permission) as PermissionName[]).filter((n) => (bits & Permission[n]) !== 0);
}

export function hasPermission(bits: number, wanted: number): boolean {
  return (bits & wanted) === wanted;
}

interface CachedBits {
  epoch: number;
  bits: number;
}

const CACHE_LIMIT = 100_000;

/**
 * CTEs `principal` (the user if active, or the group) and `holders` (it plus
 * the groups the user belongs to): whose role assignments count.
 */
function holders(principalId: number) {
  return sql`
    principal as (
      select id from lg_app.users where id = ${principalId} and active
      union all
      select id from lg_app.groups where id = ${principalId}
    ),
    holders as (
      select id from principal
      union
      select gm.group_id from lg_app.group_members gm join principal p on p.id = gm.user_id
    )`;
}

/**
 * Resolves effective permissions: the union of the roles held by the user
 * and by the groups they belong to, on the policy that applies to the folder
 * (its own, or the nearest ancestor's that has one), plus site roles.
 * Inactive users have none. Answers are cached until `invalidate()`, which
 * every change to roles, groups, folders or users calls.
 */
interface Grant {
  containerId: number;
  role: string;
  /** The user or group the role is assigned to. */
  holderId: number;
  /** The folder whose policy holds the assignment. */
  policyId: number;
}

export class PermissionResolver {
  readonly #db: Kysely<Schema>;
  readonly #cache = new Map<string, CachedBits>();
  #epoch = 0;

  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  /** Forget every cached answer (a role, group, folder or user changed). */
  invalidate(): void {
    this.#epoch++;
    this.#cache.clear();
  }

  /** Goes up with every `invalidate()`: other caches of folder facts key on it. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Bits principal `principalId` (user or group) holds on container `containerId`. */
  async resolve(principalId: number, containerId: number): Promise<number> {
    const key = `${principalId}:${containerId}`;
    const cached = this.#cache.get(key);
    if (cached && cached.epoch === this.#epoch) return cached.bits;
    const epoch = this.#epoch;
    const bits = await this.#query(principalId, containerId);
    if (epoch === this.#epoch) {
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(key, { epoch, bits });
    }
    return bits;
  }

  /** True when the user holds Site Admin (directly or through a group) and is active. */
  async isSiteAdmin(userId: number): Promise<boolean> {
    const key = `site:${userId}`;
    const cached = this.#cache.get(key);
    if (cached && cached.epoch === this.#epoch) return cached.bits !== 0;
    const epoch = this.#epoch;
    const { rows } = await sql<{ n: number }>`
      with ${holders(userId)}
      select count(*)::int as n from lg_app.role_assignments ra
      join lg_app.containers c on c.id = ra.container_id and c.path = '/'
      where ra.role = 'site_admin' and ra.principal_id in (select id from holders)
    `.execute(this.#db);
    const admin = rows[0].n > 0;
    if (epoch === this.#epoch) this.#cache.set(key, { epoch, bits: admin ? 1 : 0 });
    return admin;
  }

  /** Bits on every container where the principal holds any, in one query. */
  async resolveAll(principalId: number): Promise<Map<number, number>> {
    const all = new Map<number, number>();
    for (const { containerId, role } of await this.grants(principalId)) {
      if (isRoleName(role)) all.set(containerId, (all.get(containerId) ?? 0) | ROLES[role].bits);
    }
    return all;
  }

  /**
   * Every role that gives the principal something, and on which folder: who
   * holds it (the principal or one of its groups) and which folder's policy
   * it sits on (the folder itself or the ancestor it inherits from; `/` for
   * Site Admin). What resolveAll() adds up, and what an admin reads to see why.
   */
  async grants(principalId: number): Promise<Grant[]> {
    const { rows } = await sql<Grant>`
      with recursive policy_of (id, policy_id) as (
        select id, id from lg_app.containers where not inherit_policy or parent_id is null
        union all
        select c.id, p.policy_id from lg_app.containers c
        join policy_of p on c.parent_id = p.id
        where c.inherit_policy
      ),
      ${holders(principalId)},
      site_roles as (
        select ra.role, ra.principal_id, ra.container_id from lg_app.role_assignments ra
        join lg_app.containers c on c.id = ra.container_id and c.path = '/'
        where ra.role = 'site_admin' and ra.principal_id in (select id from holders)
      )
      select po.id as "containerId", ra.role, ra.principal_id as "holderId",
        po.policy_id as "policyId"
      from policy_of po
      join lg_app.role_assignments ra on ra.container_id = po.policy_id
      where ra.principal_id in (select id from holders)
      union all
      select c.id, s.role, s.principal_id, s.container_id
      from lg_app.containers c cross join site_roles s
    `.execute(this.#db);
    return rows;
  }

  async #query(principalId: number, containerId: number): Promise<number> {
    const { rows } = await sql<{ role: string | null; found: boolean }>`
      with recursive chain (id, parent_id, inherit_policy, depth) as (
        select id, parent_id, inherit_policy, 0 from lg_app.containers where id = ${containerId}
        union all
        select c.id, c.parent_id, c.inherit_policy, chain.depth + 1
        from lg_app.containers c join chain on c.id = chain.parent_id
        where chain.inherit_policy
      ),
      policy as (select id from chain order by depth desc limit 1),
      site as (select id from lg_app.containers where path = '/'),
      ${holders(principalId)}
      select ra.role, true as found
      from lg_app.role_assignments ra
      where ra.principal_id in (select id from holders)
        and (ra.container_id in (select id from policy)
          or (ra.role = 'site_admin' and ra.container_id in (select id from site)))
      union all
      select null, exists (select 1 from chain)
    `.execute(this.#db);
    const found = rows[rows.length - 1]?.found ?? false;
    if (!found) return 0;
    let bits = 0;
    for (const { role } of rows) {
      if (role && isRoleName(role)) bits |= ROLES[role].bits;
    }
    return bits;
  }
}
