/**
 * API keys and session keys. A key reads `lgk_<id>.<secret>` (API key) or
 * `lgs_<id>.<secret>` (session key): the id is public and names the row, the
 * secret is 256 random bits stored only as its SHA-256. Verified keys are
 * cached per instance for at most `CACHE_MS`; a revocation, sign-out or user
 * change drops them at once on every instance (svc.invalidate), and the
 * expiry bounds what a lost notification could keep.
 */
import { type Actor, actorFor, auditActor } from "../../core/actor.ts";
import { checkStatementTimeout } from "../../data/users.ts";
import {
  getLiveSession,
  type LiveSession,
  sessionEndReason,
  sessionIdleEnd,
} from "../../data/sessions.ts";
import type { Door } from "../../audit/mod.ts";
import type { Key, KeyKind, User } from "../../db/schema.ts";
import { badRequest, forbidden, LabgateError, notFound } from "../../errors.ts";
import { randomBase64Url, randomHex, secretMatches, sha256Hex } from "../../security/secrets.ts";
import { cachePerServices } from "../../security/credential_cache.ts";
import {
  type DeclaredPhiLevel,
  isDeclaredPhiLevel,
  levelWithin,
  parseDeclaredPhiLevel,
  phiLevelInForce,
} from "../../security/phi.ts";
import type { Services } from "../../services.ts";
import { type Expiry, EXPIRY_CHOICES, keySettings } from "./settings.ts";

const KEY_PREFIX: Record<KeyKind, string> = { api_key: "lgk_", session_key: "lgs_" };

/** What secret scanners look for: the whole key. */
export const KEY_PATTERN = /^(lgk|lgs)_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

/** A verified key is trusted this long before its row is read again. */
export const CACHE_MS = 1_000;

/** last_used_at is written at most this often per key. */
export const LAST_USED_EVERY_MS = 5 * 60_000;

export const REFUSED = {
  unknown: "Unknown API key",
  expired: "API key expired",
  revoked: "API key revoked",
  sessionRevoked: "Session key revoked",
  sessionEnded: "Session key's browser session has ended",
  deactivated: "This API key's account is deactivated: ask a site admin",
} as const;

/** A new key's parts: the full key (shown once), its public id and the hash to store. */
export async function generateKey(
  kind: KeyKind,
): Promise<{ key: string; id: string; secretHash: string }> {
  const id = randomHex(8);
  const secret = randomBase64Url(32);
  return { key: `${KEY_PREFIX[kind]}${id}.${secret}`, id, secretHash: await sha256Hex(secret) };
}

/** Splits a presented key, or null when it is not shaped like one of ours. */
export function parseKey(key: string): { kind: KeyKind; id: string; secret: string } | null {
  const match = KEY_PATTERN.exec(key.trim());
  if (!match) return null;
  return { kind: match[1] === "lgk" ? "api_key" : "session_key", id: match[2], secret: match[3] };
}

/** A key as users and admins see it: never the secret or its hash. */
export interface KeyView {
  id: string;
  kind: KeyKind;
  userId: number;
  userEmail: string;
  description: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** "active", "expired", "revoked" or "session ended" (a session key whose session is over). */
  status: string;
  /** The PHI level in force for the key's requests; null for a session key (its session's). */
  phiLevel: DeclaredPhiLevel | null;
  /** The key's own statement time limit, set by an admin; null: its user's, else the site's. */
  statementTimeoutSeconds: number | null;
}

function requireBrowser(actor: Actor): { id: string } {
  if (!actor.session) {
    throw forbidden("Create keys from a signed-in browser session, not with a key or token");
  }
  if (actor.userType !== "normal") throw forbidden("External app users cannot create keys");
  if (actor.mustChangePassword) throw forbidden("Change your one-time password first");
  return actor.session;
}

async function insertKey(
  svc: Services,
  actor: Actor,
  kind: KeyKind,
  fields: {
    now: Date;
    sessionId: string | null;
    expiresAt: Date | null;
    description: string;
    phiLevel: DeclaredPhiLevel | null;
  },
): Promise<{ key: string; view: KeyView }> {
  const { key, id, secretHash } = await generateKey(kind);
  // The key and its record commit together: a crash cannot leave a usable key unrecorded.
  const row = await svc.db.transaction().execute(async (trx) => {
    const row = await trx.insertInto("keys").values({
      id,
      kind,
      secret_hash: secretHash,
      user_id: actor.userId,
      session_id: fields.sessionId,
      description: fields.description.trim().slice(0, 200),
      created_at: fields.now,
      expires_at: fields.expiresAt,
      phi_level: fields.phiLevel,
    }).returningAll().executeTakeFirstOrThrow();
    await svc.audit.recordIn(trx, {
      door: actor.door,
      event: `${kind}.create`,
      outcome: "ok",
      userId: actor.userId,
      userEmail: actor.email,
      credential: { kind: actor.credential.kind, id: actor.credential.id },
      compliance: actor.compliance as Record<string, unknown> | null,
      clientAddr: actor.clientAddr,
      detail: `${kind} ${id}${fields.phiLevel ? ` phi=${fields.phiLevel}` : ""}`,
    });
    return row;
  });
  return { key, view: toView(svc, row, actor.email, null) };
}

/**
 * Creates an API key for the signed-in user; `expiry` must be one the site
 * allows. The key's PHI level defaults to the session's and may not exceed it.
 */
export async function createApiKey(
  svc: Services,
  actor: Actor,
  options: { expiry: Expiry | string; description?: string; phiLevel?: unknown },
): Promise<{ key: string; view: KeyView }> {
  requireBrowser(actor);
  const sessionLevel = phiLevelInForce(actor);
  const phiLevel = parseDeclaredPhiLevel(options.phiLevel, sessionLevel);
  if (!levelWithin(phiLevel, sessionLevel)) {
    throw forbidden(
      `An API key's PHI level cannot exceed your session's (${sessionLevel}): sign in declaring ${phiLevel} first`,
    );
  }
  const settings = await svc.settings.get(keySettings);
  if (!settings.apiKeys) throw forbidden("API keys are turned off on this site: ask a site admin");
  const expiry = options.expiry as Expiry;
  if (!settings.apiKeyExpiries.includes(expiry)) {
    throw badRequest(
      `Choose an expiry this site allows: ${settings.apiKeyExpiries.join(", ")}`,
    );
  }
  const days = EXPIRY_CHOICES[expiry].days;
  const now = svc.now();
  const expiresAt = days === null ? null : new Date(now.getTime() + days * 86_400_000);
  return await insertKey(svc, actor, "api_key", {
    now,
    sessionId: null,
    expiresAt,
    description: options.description ?? "",
    phiLevel,
  });
}

/** Creates a session key bound to the actor's browser session. */
export async function createSessionKey(
  svc: Services,
  actor: Actor,
  options: { description?: string } = {},
): Promise<{ key: string; view: KeyView }> {
  const session = requireBrowser(actor);
  const settings = await svc.settings.get(keySettings);
  if (!settings.sessionKeys) {
    throw forbidden("Session keys are turned off on this site: ask a site admin");
  }
  return await insertKey(svc, actor, "session_key", {
    now: svc.now(),
    sessionId: session.id,
    expiresAt: null,
    description: options.description ?? "",
    phiLevel: null,
  });
}

/** An API key's level; keys made before PHI levels existed have none and are `not_phi`. */
function apiKeyLevel(row: Key): DeclaredPhiLevel {
  return isDeclaredPhiLevel(row.phi_level) ? row.phi_level : "not_phi";
}

function toView(svc: Services, row: Key, email: string, sessionEnded: boolean | null): KeyView {
  const now = svc.now();
  const status = row.revoked_at
    ? "revoked"
    : row.expires_at && row.expires_at <= now
    ? "expired"
    : sessionEnded
    ? "session ended"
    : "active";
  return {
    id: row.id,
    kind: row.kind,
    userId: row.user_id,
    userEmail: email,
    description: row.description,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    status,
    phiLevel: row.kind === "api_key" ? apiKeyLevel(row) : null,
    statementTimeoutSeconds: row.statement_timeout_seconds,
  };
}

/** The actor's own keys, or with `all` every user's (site admins only); newest first. */
export async function listKeys(
  svc: Services,
  actor: Actor,
  options: { all?: boolean } = {},
): Promise<KeyView[]> {
  if (options.all) await requireAdmin(svc, actor);
  let query = svc.db.selectFrom("keys")
    .innerJoin("users", "users.id", "keys.user_id")
    .leftJoin("sessions", "sessions.id", "keys.session_id")
    .selectAll("keys")
    .select([
      "users.email",
      "sessions.ended_at as session_ended_at",
      "sessions.end_reason as session_end_reason",
      "sessions.expires_at as session_expires_at",
      "sessions.last_seen_at as session_last_seen_at",
    ])
    .orderBy("keys.created_at", "desc").orderBy("keys.id");
  if (!options.all) query = query.where("keys.user_id", "=", actor.userId);
  const rows = await query.execute();
  const now = svc.now();
  return rows.map((r) => {
    const sessionEnded = r.session_expires_at !== null && r.session_last_seen_at !== null &&
      sessionEndReason(svc, {
          ended_at: r.session_ended_at,
          end_reason: r.session_end_reason,
          expires_at: r.session_expires_at,
          last_seen_at: r.session_last_seen_at,
        }, now) !== null;
    return toView(svc, r, r.email, sessionEnded);
  });
}

async function requireAdmin(svc: Services, actor: Actor): Promise<void> {
  if (!await svc.permissions.isSiteAdmin(actor.userId)) {
    throw forbidden("Only site admins can see other users' keys");
  }
}

/** Revokes a key: its owner or a site admin. Anyone else gets 404, so ids do not leak. */
export async function revokeKey(svc: Services, actor: Actor, id: string): Promise<KeyView> {
  const row = await svc.db.selectFrom("keys").selectAll().where("id", "=", id)
    .executeTakeFirst();
  if (
    !row || (row.user_id !== actor.userId && !await svc.permissions.isSiteAdmin(actor.userId))
  ) {
    throw notFound(`No key ${id} of yours`);
  }
  const { updated, owner } = await svc.db.transaction().execute(async (trx) => {
    const updated = row.revoked_at ? row : await trx.updateTable("keys")
      .set({ revoked_at: svc.now(), revoked_by: actor.userId })
      .where("id", "=", id).returningAll().executeTakeFirstOrThrow();
    const owner = await trx.selectFrom("users").select("email").where("id", "=", row.user_id)
      .executeTakeFirstOrThrow();
    await svc.audit.recordIn(trx, {
      door: actor.door,
      event: `${row.kind}.revoke`,
      outcome: "ok",
      userId: actor.userId,
      userEmail: actor.email,
      credential: actor.credential,
      compliance: actor.compliance as Record<string, unknown> | null,
      clientAddr: actor.clientAddr,
      detail: `${row.kind} ${id} of ${owner.email}`,
    });
    return { updated, owner };
  });
  await svc.invalidate.publish({ kind: "key", id });
  return toView(svc, updated, owner.email, null);
}

function shownLimit(seconds: number | null): string {
  return seconds === null ? "the site's" : `${seconds} s`;
}

/**
 * Sets an API key's own statement time limit (seconds; null for its
 * user's, else the site's): site admins only, audited with the old and new
 * value. Takes effect at the key's next request or SQL door login.
 */
export async function setKeyStatementTimeout(
  svc: Services,
  actor: Actor,
  id: string,
  seconds: unknown,
): Promise<KeyView> {
  if (!await svc.permissions.isSiteAdmin(actor.userId)) {
    throw forbidden("Only site admins can set a key's statement time limit");
  }
  const limit = checkStatementTimeout(seconds);
  const row = await svc.db.selectFrom("keys").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw notFound(`No key ${id}`);
  if (row.kind !== "api_key") {
    throw badRequest("Session keys take their session's limits: set the user's limit instead");
  }
  const updated = await svc.db.updateTable("keys").set({ statement_timeout_seconds: limit })
    .where("id", "=", id).returningAll().executeTakeFirstOrThrow();
  await svc.invalidate.publish({ kind: "key", id });
  const owner = await svc.db.selectFrom("users").select("email").where("id", "=", row.user_id)
    .executeTakeFirstOrThrow();
  svc.audit.record({
    ...auditActor(actor),
    event: "api_key.statement_timeout",
    outcome: "ok",
    detail: `api_key ${id} of ${owner.email}: statement time limit ${
      shownLimit(row.statement_timeout_seconds)
    } → ${shownLimit(limit)}`,
  });
  return toView(svc, updated, owner.email, null);
}

// --- verification ------------------------------------------------------

interface Cached {
  row: Key;
  user: User;
  /** The live session behind a session key; null for API keys or an ended session. */
  live: LiveSession | null;
  /** The secret that matched the stored hash, so repeated uses skip the digest. */
  verified: string | null;
  /** `svc.permissions.epoch` when read: a user, group or role change here drops the entry. */
  epoch: number;
}

// Revocations, sign-outs and user changes on any instance (svc.invalidate).
const cacheOf = cachePerServices<Cached>(CACHE_MS, (cache, event) => {
  if (event.kind === "key") cache.drop(event.id);
  else if (event.kind === "session") {
    cache.dropWhere((entry) => entry.row.session_id === event.id);
  } else if (event.kind === "permissions" || event.kind === "all") cache.drop();
});

/** Forgets verified keys on this instance: one by id, or every one. */
export function dropKeyCache(svc: Services, keyId?: string): void {
  cacheOf(svc).drop(keyId);
}

async function load(svc: Services, id: string): Promise<Cached | null> {
  return await cacheOf(svc).get(id, svc.now().getTime(), async () => {
    const epoch = svc.permissions.epoch;
    const row = await svc.db.selectFrom("keys").selectAll().where("id", "=", id)
      .executeTakeFirst();
    if (!row) return null;
    const user = await svc.db.selectFrom("users").selectAll().where("id", "=", row.user_id)
      .executeTakeFirstOrThrow();
    const live = row.session_id ? await getLiveSession(svc, row.session_id) : null;
    return { row, user, live, verified: null, epoch };
  }, (entry) => entry.epoch === svc.permissions.epoch);
}

/** Why a key whose secret matched may not be used at `now`, or null while it may. */
async function refusal(svc: Services, entry: Cached, now: Date): Promise<string | null> {
  const { row, user } = entry;
  if (row.revoked_at) return row.kind === "api_key" ? REFUSED.revoked : REFUSED.sessionRevoked;
  if (row.expires_at && row.expires_at <= now) return REFUSED.expired;
  if (row.kind === "session_key") {
    const session = entry.live?.session ?? null;
    if (!session || sessionEndReason(svc, session, now)) {
      dropKeyCache(svc, row.id);
      // Ends a session that has just timed out, so everything bound to it ends too.
      if (session) await getLiveSession(svc, session.id);
      return REFUSED.sessionEnded;
    }
  } else if (!user.active) return REFUSED.deactivated;
  return null;
}

/** Where a key already in use stands now (the SQL door asks for its open connections). */
type KeyStanding =
  | { ended: string }
  | {
    ended: null;
    /** When it ends by itself if nothing else happens: its expiry, or its session's. */
    until: Date | null;
    /** The browser session behind a session key. */
    sessionId: string | null;
  };

/** Checks key `id` again without its secret: `ended` says why it may no longer be used. */
export async function keyStanding(svc: Services, id: string): Promise<KeyStanding> {
  const entry = await load(svc, id);
  if (!entry) return { ended: REFUSED.unknown };
  const refused = await refusal(svc, entry, svc.now());
  if (refused) return { ended: refused };
  const session = entry.live?.session ?? null;
  const ends = [entry.row.expires_at, session?.expires_at, session && sessionIdleEnd(svc, session)]
    .filter((date): date is Date => !!date);
  return {
    ended: null,
    until: ends.length ? new Date(Math.min(...ends.map((date) => date.getTime()))) : null,
    sessionId: session?.id ?? null,
  };
}

/** Thrown for a refused key; `credential` and `userId` say what to log. */
export class KeyRefused extends LabgateError {
  constructor(
    message: string,
    readonly credential: { kind: KeyKind; id: string } | null,
    readonly userId: number | null,
  ) {
    super(401, message);
  }
}

/**
 * The Actor a key stands for, or a thrown KeyRefused (401) with the reason.
 * Expiry, revocation and session state are told only to whoever holds the
 * right secret; any other key is simply unknown.
 */
export async function verifyKey(
  svc: Services,
  key: string,
  context: { door: Door; clientAddr: string | null },
): Promise<Actor> {
  return (await verifyKeyUser(svc, key, context)).actor;
}

/**
 * verifyKey() with the user's record as the verification read it (cached
 * with the key, so dropped with it by any user change): for the SQL door's
 * login, which needs the whole record without reading it again.
 */
export async function verifyKeyUser(
  svc: Services,
  key: string,
  context: { door: Door; clientAddr: string | null },
): Promise<{ actor: Actor; user: User }> {
  const parsed = parseKey(key);
  if (!parsed) throw new KeyRefused(REFUSED.unknown, null, null);
  const entry = await load(svc, parsed.id);
  if (
    !entry || entry.row.kind !== parsed.kind ||
    !await secretMatches(parsed.secret, entry.row.secret_hash, entry)
  ) {
    throw new KeyRefused(REFUSED.unknown, null, null);
  }
  const { row } = entry;
  const now = svc.now();
  const refused = await refusal(svc, entry, now);
  if (refused) throw new KeyRefused(refused, { kind: row.kind, id: row.id }, row.user_id);
  const session = entry.live?.session ?? null;
  if (!row.last_used_at || now.getTime() - row.last_used_at.getTime() >= LAST_USED_EVERY_MS) {
    row.last_used_at = now;
    await svc.db.updateTable("keys").set({ last_used_at: now }).where("id", "=", row.id)
      .execute();
  }
  const liveUser = entry.live?.user ?? entry.user;
  const actor = actorFor(liveUser, {
    credential: { kind: row.kind, id: row.id },
    compliance: (session?.compliance ?? null) as Actor["compliance"],
    phiLevel: row.kind === "api_key" ? apiKeyLevel(row) : undefined,
    statementTimeoutSeconds: row.statement_timeout_seconds ?? liveUser.statement_timeout_seconds,
    impersonatorId: session?.impersonator_id ?? null,
    boundSession: session?.id,
    mustChangePassword: liveUser.must_change_password,
    door: context.door,
    clientAddr: context.clientAddr,
  });
  return { actor, user: liveUser };
}
