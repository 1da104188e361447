/**
 * Browser sessions. The cookie holds `<id>.<secret>`; the table holds the id
 * and SHA-256 of the secret only. A session ends at logout, after
 * `sessionIdleMinutes` without a request, or `sessionMaxHours` after login.
 */
import { sql } from "kysely";
import type { Session, User } from "../db/schema.ts";
import { randomBase64Url, randomHex, sha256Hex, timingSafeEqual } from "../security/secrets.ts";
import type { Services } from "../services.ts";
import type { Compliance } from "../core/actor.ts";

export const SESSION_COOKIE = "labgate_session";

/** last_seen_at is written at most this often, so requests do not all write. */
const TOUCH_EVERY_MS = 60_000;

type EndReason =
  | "logout"
  | "idle timeout"
  | "expired"
  | "user deactivated"
  | "revoked"
  | "password changed";

export async function createSession(
  svc: Services,
  input: {
    userId: number;
    clientAddr?: string | null;
    userAgent?: string | null;
    compliance?: Compliance | null;
    impersonatorId?: number | null;
  },
): Promise<{ cookie: string; session: Session }> {
  const id = randomHex(12);
  const secret = randomBase64Url(24);
  const now = svc.now();
  const session = await svc.db.insertInto("sessions").values({
    id,
    secret_hash: await sha256Hex(secret),
    user_id: input.userId,
    impersonator_id: input.impersonatorId ?? null,
    csrf_token: randomBase64Url(24),
    compliance: input.compliance ? JSON.stringify(input.compliance) : null,
    client_addr: input.clientAddr ?? null,
    user_agent: input.userAgent?.slice(0, 500) ?? null,
    created_at: now,
    last_seen_at: now,
    expires_at: new Date(now.getTime() + svc.config.sessionMaxHours * 3_600_000),
  }).returningAll().executeTakeFirstOrThrow();
  return { cookie: `${id}.${secret}`, session };
}

export interface LiveSession {
  session: Session;
  user: User;
}

/** Why a session is no longer valid at `now`, or null while it is. */
export function sessionEndReason(
  svc: Services,
  session: Pick<Session, "ended_at" | "end_reason" | "expires_at" | "last_seen_at">,
  now: Date,
): EndReason | null {
  if (session.ended_at) return (session.end_reason as EndReason) ?? "logout";
  if (now.getTime() >= session.expires_at.getTime()) return "expired";
  if (now.getTime() >= sessionIdleEnd(svc, session).getTime()) return "idle timeout";
  return null;
}

/** When a session times out if it sees no request before. */
export function sessionIdleEnd(svc: Services, session: Pick<Session, "last_seen_at">): Date {
  return new Date(session.last_seen_at.getTime() + svc.config.sessionIdleMinutes * 60_000);
}

/** Looks up a live session by its id (session keys do this), ending it if it has timed out. */
export async function getLiveSession(svc: Services, id: string): Promise<LiveSession | null> {
  // One round trip for session and user: every cookie, session key and
  // remote-login verification asks. JSON carries the user's dates as text.
  const found = await svc.db.selectFrom("sessions as s")
    .leftJoin("users as u", "u.id", "s.user_id")
    .selectAll("s")
    .select(sql<UserJson | null>`to_jsonb(u)`.as("user_json"))
    .where("s.id", "=", id)
    .executeTakeFirst();
  if (!found) return null;
  const { user_json: userJson, ...row } = found;
  const now = svc.now();
  const reason = sessionEndReason(svc, row, now);
  if (reason) {
    if (!row.ended_at) await endSession(svc, row.id, reason);
    return null;
  }
  if (!userJson || !userJson.active) {
    await endSession(svc, row.id, "user deactivated");
    return null;
  }
  const user: User = {
    ...userJson,
    created_at: new Date(userJson.created_at),
    last_login_at: userJson.last_login_at === null ? null : new Date(userJson.last_login_at),
  };
  return { session: row, user };
}

/** A users row as `to_jsonb` gives it: timestamps as text. */
type UserJson = Omit<User, "created_at" | "last_login_at"> & {
  created_at: string;
  last_login_at: string | null;
};

/** Resolves a session cookie value to its live session, and records activity. */
export async function resolveSessionCookie(
  svc: Services,
  cookie: string,
): Promise<LiveSession | null> {
  const dot = cookie.indexOf(".");
  if (dot <= 0) return null;
  const id = cookie.slice(0, dot);
  const secret = cookie.slice(dot + 1);
  const live = await getLiveSession(svc, id);
  if (!live || !timingSafeEqual(await sha256Hex(secret), live.session.secret_hash)) return null;
  const now = svc.now();
  if (now.getTime() - live.session.last_seen_at.getTime() >= TOUCH_EVERY_MS) {
    await svc.db.updateTable("sessions").set({ last_seen_at: now }).where("id", "=", id).execute();
  }
  return live;
}

/** Ends a session; everything bound to it (session keys, remote-login tokens) ends too. */
export async function endSession(svc: Services, id: string, reason: EndReason): Promise<void> {
  await svc.db.updateTable("sessions").set({ ended_at: svc.now(), end_reason: reason })
    .where("id", "=", id).where("ended_at", "is", null).execute();
  for (const listener of sessionEndListeners) await listener(svc, id);
  // Sessions are read from the database on every request; what is cached of them (session
  // keys) is dropped on every instance.
  await svc.invalidate.publish({ kind: "session", id });
}

/**
 * Ends every live session of a user but `keep` (the one asking, on a self
 * change), with what is bound to them: a changed password must lock out
 * whoever knew the old one, however they signed in.
 */
export async function endUserSessions(
  svc: Services,
  userId: number,
  reason: EndReason,
  keep?: string,
): Promise<void> {
  let query = svc.db.selectFrom("sessions").select("id").where("user_id", "=", userId)
    .where("ended_at", "is", null);
  if (keep) query = query.where("id", "!=", keep);
  for (const { id } of await query.execute()) await endSession(svc, id, reason);
}

type SessionEndListener = (svc: Services, sessionId: string) => void | Promise<void>;
const sessionEndListeners: SessionEndListener[] = [];

/** Doors whose credentials live and die with a session register here (stored state). */
export function onSessionEnd(listener: SessionEndListener): void {
  sessionEndListeners.push(listener);
}
