/**
 * Auth tokens: `lgt_<id>.<secret>`, shown once, stored as the SHA-256 of the
 * secret. Admins add, edit and approve them; app users request them.
 */
import { sql } from "kysely";
import { type Actor, auditActor } from "../../core/actor.ts";
import { verifyEmailPassword } from "../../auth/login.ts";
import type { AuthToken, PermittedActions, ProcessAs, TokenStatus, User } from "../../db/schema.ts";
import { getUser, getUserByEmail, requireSiteAdmin } from "../../data/users.ts";
import { badRequest, notFound } from "../../errors.ts";
import { isRoleName } from "../../security/permissions.ts";
import { randomBase64Url, randomHex, sha256Hex } from "../../security/secrets.ts";
import type { Services } from "../../services.ts";
import { requireApp } from "./apps.ts";

export const TOKEN_PREFIX = "lgt_";
export const TOKEN_STATUSES: Record<TokenStatus, string> = {
  pending: "Pending Approval",
  disabled: "Disabled",
  active: "Active",
  expired: "Expired",
};
export const PROCESS_AS: Record<ProcessAs, string> = {
  never: "Never (act as the app user)",
  any: "Any user",
  specific: "Specific user",
  department: "User in department",
  role: "User holding role (on any folder)",
};
export const PERMITTED: Record<PermittedActions, string> = {
  full: "Full",
  restricted: "Restricted (listed actions)",
  roles: "Defined by the acting user's roles",
};
/** What a restricted token may list: action endpoint names, REST read/write, the SQL door. */
export const ACTIONS = [
  "selectRows",
  "insertRows",
  "updateRows",
  "checkPermissions",
  "rest.read",
  "rest.write",
  "sql",
] as const;

export interface TokenInput {
  description?: string;
  requestReason?: string;
  appId?: string;
  appUserId?: number;
  status?: TokenStatus;
  /** Defaults to today + the app's default expiry days. */
  expiresAt?: Date;
  processAs?: ProcessAs;
  /** Email (specific), department (department) or role name (role). */
  processAsTarget?: string;
  permitted?: PermittedActions;
  actions?: string[];
}

/** A new token value and what is stored for it. */
async function newSecret(): Promise<{ id: string; value: string; hash: string }> {
  const id = randomHex(8);
  const secret = randomBase64Url(24);
  return { id, value: `${TOKEN_PREFIX}${id}.${secret}`, hash: await sha256Hex(secret) };
}

/** Splits a presented value into id and secret, or null when it is not a token. */
export function parseTokenValue(value: string): { id: string; secret: string } | null {
  if (!value.startsWith(TOKEN_PREFIX)) return null;
  const dot = value.indexOf(".");
  if (dot < 0) return null;
  const id = value.slice(TOKEN_PREFIX.length, dot);
  const secret = value.slice(dot + 1);
  return /^[0-9a-f]{16}$/.test(id) && secret ? { id, secret } : null;
}

function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 86_400_000);
}

async function checkedFields(svc: Services, input: TokenInput, current?: AuthToken) {
  const app = await requireApp(svc, input.appId ?? current?.app_id ?? "");
  const appUserId = input.appUserId ?? current?.app_user_id;
  const appUser = appUserId ? await getUser(svc, appUserId) : undefined;
  if (!appUser || appUser.user_type !== "app" || appUser.external_app_id !== app.id) {
    throw badRequest(`Choose an app user of ${app.id} (a user of type external app bound to it)`);
  }
  const status = input.status ?? current?.status ?? "active";
  if (!Object.hasOwn(TOKEN_STATUSES, status)) throw badRequest(`Unknown token status "${status}"`);
  const expiresAt = input.expiresAt ?? current?.expires_at ??
    addDays(svc.now(), app.default_expiry_days);
  if (Number.isNaN(expiresAt.getTime())) throw badRequest("Expiry date is not a valid date");
  if (status === "active" && expiresAt <= svc.now()) {
    throw badRequest("The expiry date has passed: set a new expiry date to activate the token");
  }
  const processAs = input.processAs ?? current?.process_as ?? "never";
  if (!Object.hasOwn(PROCESS_AS, processAs)) throw badRequest(`Unknown process-as "${processAs}"`);
  let target: string | null = null;
  const rawTarget = input.processAsTarget?.trim() ??
    (processAs === current?.process_as ? current.process_as_target : null) ?? "";
  if (processAs === "specific") {
    const user = /^\d+$/.test(rawTarget)
      ? await getUser(svc, Number(rawTarget))
      : await getUserByEmail(svc, rawTarget);
    if (!user) throw badRequest("Process as a specific user: name an existing user's email");
    target = String(user.id);
  } else if (processAs === "department") {
    if (!rawTarget) throw badRequest("Process as a user in a department: name the department");
    target = rawTarget;
  } else if (processAs === "role") {
    if (!isRoleName(rawTarget)) throw badRequest("Process as a user with a role: choose the role");
    target = rawTarget;
  }
  const permitted = input.permitted ?? current?.permitted ?? "full";
  if (!Object.hasOwn(PERMITTED, permitted)) throw badRequest(`Unknown permitted "${permitted}"`);
  const actions = permitted === "restricted" ? input.actions ?? current?.permitted_list ?? [] : [];
  for (const action of actions) {
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw badRequest(`Unknown action "${action}": use ${ACTIONS.join(", ")}`);
    }
  }
  return {
    app_id: app.id,
    app_user_id: appUser.id,
    description: input.description?.trim() ?? current?.description ?? "",
    request_reason: input.requestReason?.trim() ?? current?.request_reason ?? "",
    status,
    expires_at: expiresAt,
    process_as: processAs,
    process_as_target: target,
    permitted,
    permitted_list: JSON.stringify(actions),
  };
}

/** Adds a token; returns it with its value, which is never shown again. */
export async function createToken(
  svc: Services,
  actor: Actor,
  input: TokenInput,
): Promise<{ token: AuthToken; value: string }> {
  await requireSiteAdmin(svc, actor);
  const fields = await checkedFields(svc, input);
  const { id, value, hash } = await newSecret();
  const token = await svc.db.insertInto("auth_tokens")
    .values({ id, secret_hash: hash, created_by: actor.userId, ...fields })
    .returningAll().executeTakeFirstOrThrow();
  svc.audit.record({
    ...auditActor(actor),
    event: "token.create",
    outcome: "ok",
    detail: `${id} (${fields.app_id}, ${fields.status})`,
  });
  return { token, value };
}

/** Changes a token (status, expiry, process-as, permitted actions…). */
export async function updateToken(
  svc: Services,
  actor: Actor,
  id: string,
  input: TokenInput,
): Promise<AuthToken> {
  await requireSiteAdmin(svc, actor);
  const current = await getToken(svc, id);
  if (!current) throw notFound(`No auth token ${id}`);
  const fields = await checkedFields(svc, input, current);
  const token = await svc.db.updateTable("auth_tokens").set(fields).where("id", "=", id)
    .returningAll().executeTakeFirstOrThrow();
  await svc.invalidate.publish({ kind: "token", id });
  svc.audit.record({
    ...auditActor(actor),
    event: "token.update",
    outcome: "ok",
    detail: `${id} (${token.status})`,
  });
  return token;
}

/** Approves a pending token: it becomes active. */
export async function approveToken(svc: Services, actor: Actor, id: string): Promise<AuthToken> {
  const current = await getToken(svc, id);
  if (current && current.status !== "pending") {
    throw badRequest(`Token ${id} is not pending approval`);
  }
  return await updateToken(svc, actor, id, { status: "active" });
}

export async function getToken(svc: Services, id: string): Promise<AuthToken | undefined> {
  return await svc.db.selectFrom("auth_tokens").selectAll().where("id", "=", id)
    .executeTakeFirst();
}

/** Marks every active token whose expiry has passed as expired. */
async function expireTokens(svc: Services): Promise<void> {
  await svc.db.updateTable("auth_tokens").set({ status: "expired" })
    .where("status", "=", "active").where("expires_at", "<=", svc.now()).execute();
}

/** Every token, pending ones first, newest first. */
export async function listTokens(
  svc: Services,
  actor: Actor,
): Promise<(AuthToken & { app_user_email: string })[]> {
  await requireSiteAdmin(svc, actor);
  await expireTokens(svc);
  return await svc.db.selectFrom("auth_tokens")
    .innerJoin("users", "users.id", "auth_tokens.app_user_id")
    .selectAll("auth_tokens").select("users.email as app_user_email")
    .orderBy(sql`auth_tokens.status = 'pending'`, "desc")
    .orderBy("auth_tokens.created_at", "desc").execute();
}

/** An app's users, for the token form's app user picker. */
export async function appUsers(svc: Services, appId: string): Promise<User[]> {
  return await svc.db.selectFrom("users").selectAll().where("user_type", "=", "app")
    .where("external_app_id", "=", appId).orderBy(sql`lower(email)`).execute();
}

/**
 * The request-token API: an external app user proves their password and gets
 * a token in Pending Approval, which works once a site admin approves it.
 */
export async function requestToken(
  svc: Services,
  input: {
    email: string;
    password: string;
    reason?: string;
    description?: string;
    clientAddr: string | null;
  },
): Promise<{ token: AuthToken; value: string }> {
  const { user, refuse } = await verifyEmailPassword(svc, {
    email: input.email,
    password: input.password,
    clientAddr: input.clientAddr,
    door: "token",
    event: "token.request",
  });
  if (user.user_type !== "app" || !user.external_app_id) {
    refuse("Only active external app users can request a token");
  }
  const app = await requireApp(svc, user.external_app_id!);
  if (app.status !== "active") refuse(`External app ${app.id} is disabled`);
  const { id, value, hash } = await newSecret();
  const token = await svc.db.insertInto("auth_tokens").values({
    id,
    secret_hash: hash,
    app_id: app.id,
    app_user_id: user.id,
    description: (input.description ?? "").trim().slice(0, 500),
    request_reason: (input.reason ?? "").trim().slice(0, 2000),
    status: "pending",
    expires_at: addDays(svc.now(), app.default_expiry_days),
    permitted_list: "[]",
  }).returningAll().executeTakeFirstOrThrow();
  svc.audit.record({
    door: "token",
    event: "token.request",
    outcome: "ok",
    userId: user.id,
    userEmail: user.email,
    credential: { kind: "token", id },
    clientAddr: input.clientAddr,
    detail: `${id} (${app.id}, pending)`,
  });
  return { token, value };
}
