/** Users and their passwords. Managing other users needs Site Admin. */
import { sql } from "kysely";
import { type Actor, auditActor } from "../core/actor.ts";
import { endUserSessions } from "./sessions.ts";
import type { User, UserType } from "../db/schema.ts";
import { badRequest, conflict, forbidden, notFound } from "../errors.ts";
import { isCommonPassword } from "../security/common_passwords.ts";
import {
  hasPermission,
  Permission,
  type PermissionName,
  permissionNames,
} from "../security/permissions.ts";
import { createVerifier, formatVerifier } from "../security/scram.ts";
import type { Services } from "../services.ts";

const EMAIL = /^[^\s@<>"',;]+@[^\s@<>"',;]+$/;
const MIN_PASSWORD_LENGTH = 8;

/** A user as shown to admins and APIs: never the verifier. */
export interface UserView {
  id: number;
  email: string;
  displayName: string;
  department: string;
  active: boolean;
  userType: UserType;
  externalAppId: string | null;
  hasPassword: boolean;
  createdAt: Date;
  lastLoginAt: Date | null;
  /** The user's own statement time limit, set by an admin; null: the site's. */
  statementTimeoutSeconds: number | null;
}

export function userView(u: User): UserView {
  return {
    id: u.id,
    email: u.email,
    displayName: u.display_name,
    department: u.department,
    active: u.active,
    userType: u.user_type,
    externalAppId: u.external_app_id,
    hasPassword: u.password_verifier !== null,
    createdAt: u.created_at,
    lastLoginAt: u.last_login_at,
    statementTimeoutSeconds: u.statement_timeout_seconds,
  };
}

export async function requireSiteAdmin(svc: Services, actor: Actor): Promise<void> {
  if (!await svc.permissions.isSiteAdmin(actor.userId)) {
    throw forbidden("Only a site admin can do that");
  }
}

export async function getUserByEmail(svc: Services, email: string): Promise<User | undefined> {
  return await svc.db.selectFrom("users").selectAll()
    .where(sql`lower(email)`, "=", email.trim().toLowerCase()).executeTakeFirst();
}

export async function getUser(svc: Services, id: number): Promise<User | undefined> {
  return await svc.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Refuses a new password that is short, the account's own email, or on the common list. */
async function checkPassword(password: string, email: string): Promise<void> {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw badRequest(`Password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > 1024) throw badRequest("Password must be at most 1024 characters");
  const lower = password.trim().toLowerCase();
  const address = email.trim().toLowerCase();
  if (lower === address || lower === address.split("@")[0]) {
    throw badRequest("The password must not be the account's email or its name part");
  }
  if (await isCommonPassword(password)) {
    throw badRequest(
      "This password is on the list of the most common passwords that attackers try first: choose another",
    );
  }
}

async function passwordVerifier(
  svc: Services,
  password: string,
  email: string,
): Promise<string> {
  await checkPassword(password, email);
  return formatVerifier(await createVerifier(password, { iterations: svc.config.scramIterations }));
}

interface UserInput {
  email: string;
  displayName?: string;
  department?: string;
  active?: boolean;
  userType?: UserType;
  externalAppId?: string | null;
  password?: string;
  mustChangePassword?: boolean;
  /** The user's own statement time limit (seconds, 1–86400); null: the site's. */
  statementTimeoutSeconds?: number | null;
}

/** An admin's statement time limit for a user or key: whole seconds in range, or none. */
export function checkStatementTimeout(raw: unknown): number | null {
  if (raw === null || raw === undefined || raw === "") return null;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) {
    throw badRequest(
      `Statement time limit must be a whole number of seconds from 1 to 86400, or empty for the site's, got "${raw}"`,
    );
  }
  return seconds;
}

async function checkUserType(
  svc: Services,
  type: UserType,
  appId: string | null | undefined,
): Promise<void> {
  if (type !== "normal" && type !== "app") {
    throw badRequest(`User type must be "normal" or "app", got "${type}"`);
  }
  if (type === "app" && !appId) {
    throw badRequest("An external app user must name its external app");
  }
  if (type === "normal" && appId) {
    throw badRequest("Only external app users belong to an external app");
  }
  if (
    appId &&
    !await svc.db.selectFrom("external_apps").select("id").where("id", "=", appId)
      .executeTakeFirst()
  ) {
    throw badRequest(`No external app "${appId}": register it on the External apps page first`);
  }
}

/** Creates a user; `actor` null only for the first-start bootstrap. */
export async function createUser(
  svc: Services,
  actor: Actor | null,
  input: UserInput,
): Promise<User> {
  if (actor) await requireSiteAdmin(svc, actor);
  const email = input.email.trim();
  if (!EMAIL.test(email) || email.length > 254) throw badRequest(`"${email}" is not a valid email`);
  const userType = input.userType ?? "normal";
  await checkUserType(svc, userType, input.externalAppId);
  if (await getUserByEmail(svc, email)) throw conflict(`A user with email ${email} already exists`);
  const verifier = input.password ? await passwordVerifier(svc, input.password, email) : null;
  const user = await svc.db.transaction().execute(async (trx) => {
    const { id } = await trx.insertInto("principals").values({ kind: "user" }).returning("id")
      .executeTakeFirstOrThrow();
    const user = await trx.insertInto("users").values({
      id,
      email,
      display_name: input.displayName?.trim() || email.split("@")[0],
      department: input.department?.trim() ?? "",
      active: input.active ?? true,
      user_type: userType,
      external_app_id: userType === "app" ? input.externalAppId! : null,
      password_verifier: verifier,
      must_change_password: input.mustChangePassword ?? false,
    }).returningAll().executeTakeFirstOrThrow();
    if (actor) {
      await svc.audit.recordIn(trx, {
        ...auditActor(actor),
        event: "user.create",
        outcome: "ok",
        detail: `${user.email} (${user.user_type})`,
      });
    }
    return user;
  });
  return user;
}

/** Changes a user's profile, type, active flag or password; needs Site Admin. */
export async function updateUser(
  svc: Services,
  actor: Actor,
  id: number,
  input: Partial<UserInput>,
): Promise<User> {
  await requireSiteAdmin(svc, actor);
  const user = await getUser(svc, id);
  if (!user) throw notFound(`No user with id ${id}`);
  const userType = input.userType ?? user.user_type;
  const appId = input.externalAppId !== undefined ? input.externalAppId : user.external_app_id;
  await checkUserType(svc, userType, userType === "normal" && input.userType ? null : appId);
  if (input.active === false && id === actor.userId) {
    throw badRequest("You cannot deactivate your own account");
  }
  const timeout = input.statementTimeoutSeconds === undefined
    ? undefined
    : checkStatementTimeout(input.statementTimeoutSeconds);
  let email = user.email;
  if (input.email !== undefined && input.email.trim() !== user.email) {
    email = input.email.trim();
    if (!EMAIL.test(email)) throw badRequest(`"${email}" is not a valid email`);
    const other = await getUserByEmail(svc, email);
    if (other && other.id !== id) throw conflict(`A user with email ${email} already exists`);
  }
  const updated = await svc.db.updateTable("users").set({
    email,
    display_name: input.displayName?.trim() || user.display_name,
    department: input.department?.trim() ?? user.department,
    active: input.active ?? user.active,
    user_type: userType,
    external_app_id: userType === "app" ? appId : null,
    ...(input.password
      ? { password_verifier: await passwordVerifier(svc, input.password, email) }
      : {}),
    ...(input.mustChangePassword !== undefined
      ? { must_change_password: input.mustChangePassword }
      : {}),
    ...(timeout !== undefined ? { statement_timeout_seconds: timeout } : {}),
  }).where("id", "=", id).returningAll().executeTakeFirstOrThrow();
  await svc.invalidate.publish({ kind: "permissions" });
  if (input.password) {
    await endUserSessions(
      svc,
      id,
      "password changed",
      id === actor.userId ? actor.session?.id : undefined,
    );
  }
  if (input.active === false) await endUserSessions(svc, id, "user deactivated");
  svc.audit.record({
    ...auditActor(actor),
    event: "user.update",
    outcome: "ok",
    detail: JSON.stringify({
      user: updated.email,
      changed: Object.keys(input).filter((k) => k !== "password").concat(
        input.password ? ["password"] : [],
      ),
      ...(timeout !== undefined && timeout !== user.statement_timeout_seconds
        ? { statementTimeoutSeconds: { from: user.statement_timeout_seconds, to: timeout } }
        : {}),
    }),
  });
  return updated;
}

/** A user changes their own password, proving the current one. */
export async function changeOwnPassword(
  svc: Services,
  actor: Actor,
  input: { newPassword: string },
): Promise<void> {
  const verifier = await passwordVerifier(svc, input.newPassword, actor.email);
  await svc.db.updateTable("users")
    .set({ password_verifier: verifier, must_change_password: false })
    .where("id", "=", actor.userId).execute();
  // A user changed, as updateUser() says too: SQL-door connections signed in with the old one end.
  await svc.invalidate.publish({ kind: "permissions" });
  await endUserSessions(svc, actor.userId, "password changed", actor.session?.id);
  svc.audit.record({ ...auditActor(actor), event: "password.change", outcome: "ok" });
}

interface UserSearch {
  userType?: UserType;
  /** Part of the email, display name or department, any case. */
  search?: string;
}

function usersMatching(svc: Services, options: UserSearch) {
  let query = svc.db.selectFrom("users");
  if (options.userType) query = query.where("user_type", "=", options.userType);
  const search = options.search?.trim().toLowerCase();
  if (search) {
    const like = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) =>
      eb.or([
        eb(sql`lower(email)`, "like", like),
        eb(sql`lower(display_name)`, "like", like),
        eb(sql`lower(department)`, "like", like),
      ])
    );
  }
  return query;
}

/** What a users grid sorts by. */
const USER_SORTS = [
  "email",
  "display_name",
  "department",
  "active",
  "last_login_at",
] as const;
export type UserSort = typeof USER_SORTS[number];

/** Users (Site Admin), by email unless sorted otherwise, optionally searched and paged. */
export async function listUsers(
  svc: Services,
  actor: Actor,
  options: UserSearch & {
    limit?: number;
    offset?: number;
    sort?: { column: UserSort; descending?: boolean };
  } = {},
): Promise<UserView[]> {
  await requireSiteAdmin(svc, actor);
  let query = usersMatching(svc, options).selectAll();
  if (options.sort) {
    const direction = options.sort.descending ? "desc" : "asc";
    query = query.orderBy(sql`${sql.ref(options.sort.column)} ${sql.raw(direction)} nulls last`);
  }
  query = query.orderBy(sql`lower(email)`);
  if (options.limit !== undefined) query = query.limit(options.limit);
  if (options.offset) query = query.offset(options.offset);
  return (await query.execute()).map(userView);
}

/** How many users a search finds (Site Admin). */
export async function countUsers(
  svc: Services,
  actor: Actor,
  options: UserSearch = {},
): Promise<number> {
  await requireSiteAdmin(svc, actor);
  const { n } = await usersMatching(svc, options).select(sql<number>`count(*)::int`.as("n"))
    .executeTakeFirstOrThrow();
  return n;
}

/** Named users: the seat count, which leaves external app users out. */
export async function countSeats(svc: Services): Promise<number> {
  const row = await svc.db.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("n"))
    .where("user_type", "=", "normal").where("active", "=", true).executeTakeFirstOrThrow();
  return Number(row.n);
}

interface PrincipalChoice {
  id: number;
  kind: "user" | "group";
  label: string;
}

/** Active named users and all groups, for role-assignment pickers (folder admins use it). */
export async function listPrincipals(svc: Services): Promise<PrincipalChoice[]> {
  const users = await svc.db.selectFrom("users").select([
    "id",
    "email",
    "display_name",
    "user_type",
  ])
    .where("active", "=", true).orderBy(sql`lower(email)`).execute();
  const groups = await svc.db.selectFrom("groups").select(["id", "name"]).orderBy(sql`lower(name)`)
    .execute();
  return [
    ...groups.map((g) => ({ id: g.id, kind: "group" as const, label: `Group: ${g.name}` })),
    ...users.map((u) => ({
      id: u.id,
      kind: "user" as const,
      label: `${u.display_name} <${u.email}>${u.user_type === "app" ? " (external app)" : ""}`,
    })),
  ];
}

interface EffectivePermission {
  path: string;
  permissions: PermissionName[];
  /** Why: each role, who holds it (the user, or a group by name), and the folder whose policy has it. */
  grants: { role: string; holder: string; policyPath: string }[];
}

/** What a user may do on each folder and why (Site Admin): the admin's effective-permissions view. */
export async function effectivePermissions(
  svc: Services,
  actor: Actor,
  userId: number,
): Promise<EffectivePermission[]> {
  await requireSiteAdmin(svc, actor);
  const grants = await svc.permissions.grants(userId);
  if (!grants.length) return [];
  const folderIds = [...new Set(grants.flatMap((g) => [g.containerId, g.policyId]))];
  const holderIds = [...new Set(grants.map((g) => g.holderId))];
  const folders = new Map(
    (await svc.db.selectFrom("containers").select(["id", "path"]).where("id", "in", folderIds)
      .execute()).map((f) => [f.id, f.path]),
  );
  const names = new Map([
    ...(await svc.db.selectFrom("users").select(["id", "email as name"]).where(
      "id",
      "in",
      holderIds,
    )
      .execute()).map((u) => [u.id, u.name] as const),
    ...(await svc.db.selectFrom("groups").select(["id", "name"]).where("id", "in", holderIds)
      .execute()).map((g) => [g.id, `group ${g.name}`] as const),
  ]);
  const bits = await svc.permissions.resolveAll(userId);
  const byFolder = new Map<number, EffectivePermission>();
  for (const grant of grants) {
    let entry = byFolder.get(grant.containerId);
    if (!entry) {
      entry = {
        path: folders.get(grant.containerId)!,
        permissions: permissionNames(bits.get(grant.containerId) ?? 0),
        grants: [],
      };
      byFolder.set(grant.containerId, entry);
    }
    entry.grants.push({
      role: grant.role,
      holder: names.get(grant.holderId) ?? String(grant.holderId),
      policyPath: folders.get(grant.policyId)!,
    });
  }
  return [...byFolder.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Active users who may read folder `containerId` whose email or display
 * name starts with `prefix` (any case), by email: who a folder's data could
 * be shared with.
 */
export async function readersOf(
  svc: Services,
  containerId: number,
  prefix = "",
): Promise<Pick<User, "id" | "email" | "display_name">[]> {
  const start = prefix.toLowerCase();
  const users = await svc.db.selectFrom("users").select(["id", "email", "display_name"])
    .where("active", "=", true).orderBy("email").execute();
  const readers = [];
  for (const user of users) {
    const named = user.email.toLowerCase().startsWith(start) ||
      user.display_name.toLowerCase().startsWith(start);
    if (
      named && hasPermission(await svc.permissions.resolve(user.id, containerId), Permission.READ)
    ) {
      readers.push(user);
    }
  }
  return readers;
}
