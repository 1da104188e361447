/**
 * The remote-login door: cooperating sites send a browser here to sign in
 * and get an opaque token back, then ask server-to-server what that user may
 * do in a folder. Tokens are stored as SHA-256 only, expire, and die with the
 * browser session they were made in.
 */
import { type Actor, auditActor } from "../../core/actor.ts";
import { getLiveSession, type LiveSession, onSessionEnd } from "../../data/sessions.ts";
import { getContainerByPath } from "../../data/containers.ts";
import type { RemoteLoginToken, RemoteSite } from "../../db/schema.ts";
import { badRequest, conflict, notFound } from "../../errors.ts";
import { CredentialCache } from "../../security/credential_cache.ts";
import { hasPermission, Permission } from "../../security/permissions.ts";
import type { DeclaredPhiLevel } from "../../security/phi.ts";
import { RateLimiter } from "../../security/rate_limit.ts";
import { randomHex, sha256Hex } from "../../security/secrets.ts";
import type { Services } from "../../services.ts";
import { remoteLoginSettings } from "./settings.ts";

/** The query parameters of the contract (named after the product the seed documents). */
export const TOKEN_PARAM = "labkeyToken";
const EMAIL_PARAM = "labkeyEmail";

const TOKEN = /^[0-9a-f]{40}$/;
const HOW_TO_RENEW = "sign in again through createToken.view";

onSessionEnd(async (svc, sessionId) => {
  await svc.db.deleteFrom("remote_login_tokens").where("session_id", "=", sessionId).execute();
});

/** The short, non-secret id the audit log shows for a token: the start of its hash. */
function tokenId(hash: string): string {
  return hash.slice(0, 12);
}

// --- Cooperating sites ---------------------------------------------------------------------

/** Checks and normalizes one allowed origin or URL prefix, e.g. `https://app.example/lab/`. */
export function normalizePrefix(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw badRequest(`"${text.trim()}" is not an absolute URL: write e.g. https://app.example`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw badRequest(`"${text.trim()}" must start with http:// or https://`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw badRequest(`"${text.trim()}" must not contain a user name, a query or a fragment`);
  }
  return url.pathname === "/" ? url.origin : url.origin + url.pathname;
}

/** True when `url` is at or below the allowed origin or prefix. */
export function prefixAllows(prefix: string, url: URL): boolean {
  const allowed = new URL(prefix);
  if (allowed.origin !== url.origin) return false;
  const path = allowed.pathname;
  if (path === "/" || path.endsWith("/")) return url.pathname.startsWith(path);
  return url.pathname === path || url.pathname.startsWith(`${path}/`);
}

export async function listSites(svc: Services): Promise<RemoteSite[]> {
  return await svc.db.selectFrom("remote_sites").selectAll().orderBy("name").execute();
}

export async function addSite(
  svc: Services,
  actor: Actor,
  input: { name: string; prefixes: string[] },
): Promise<RemoteSite> {
  const name = input.name.trim();
  if (!name || name.length > 200) throw badRequest("Site name must be 1 to 200 characters");
  const prefixes = [...new Set(input.prefixes.filter((p) => p.trim()).map(normalizePrefix))];
  if (!prefixes.length) {
    throw badRequest("Give at least one allowed origin or URL prefix, e.g. https://app.example");
  }
  const taken = await svc.db.selectFrom("remote_sites").select("id")
    .where((eb) => eb(eb.fn("lower", ["name"]), "=", name.toLowerCase())).executeTakeFirst();
  if (taken) throw conflict(`A cooperating site named ${name} already exists`);
  const site = await svc.db.insertInto("remote_sites")
    .values({ name, prefixes: JSON.stringify(prefixes), created_by: actor.userId })
    .returningAll().executeTakeFirstOrThrow();
  svc.audit.record({
    ...auditActor(actor),
    event: "remote.site.add",
    outcome: "ok",
    detail: `${name}: ${prefixes.join(" ")}`,
  });
  return site;
}

export async function removeSite(svc: Services, actor: Actor, id: number): Promise<void> {
  const site = await svc.db.deleteFrom("remote_sites").where("id", "=", id).returningAll()
    .executeTakeFirst();
  if (!site) throw notFound(`No cooperating site with id ${id}`);
  svc.audit.record({
    ...auditActor(actor),
    event: "remote.site.remove",
    outcome: "ok",
    detail: site.name,
  });
}

/**
 * The returnUrl as a URL when labgate may send a browser there: an absolute
 * http(s) URL under a registered site (or any, when the development setting
 * allows it). Throws a 400 that says what to do otherwise.
 */
export async function checkReturnUrl(svc: Services, returnUrl: string | undefined): Promise<URL> {
  if (!returnUrl) {
    throw badRequest("The returnUrl parameter is missing: the cooperating site must send it");
  }
  let url: URL;
  try {
    url = new URL(returnUrl);
  } catch {
    throw badRequest("The returnUrl is not an absolute URL: the cooperating site must send one");
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password) {
    throw badRequest("The returnUrl must be a plain http:// or https:// URL");
  }
  if ((await svc.settings.get(remoteLoginSettings)).allowAnyReturnUrl) return url;
  const sites = await listSites(svc);
  if (!sites.some((s) => s.prefixes.some((p) => prefixAllows(p, url)))) {
    throw badRequest(
      `${url.origin} is not a registered cooperating site: ask a site admin to add it under Site settings, Remote login sites`,
    );
  }
  return url;
}

/** `url` with the token and email added; its other query parameters and fragment kept as sent. */
export function withToken(url: URL, token: string, email: string): URL {
  const result = new URL(url);
  const kept = result.search.slice(1).split("&").filter((part) => {
    if (!part) return false;
    const name = [...new URLSearchParams(part).keys()][0];
    return name !== TOKEN_PARAM && name !== EMAIL_PARAM;
  });
  kept.push(new URLSearchParams({ [TOKEN_PARAM]: token, [EMAIL_PARAM]: email }).toString());
  result.search = kept.join("&");
  return result;
}

// --- Tokens --------------------------------------------------------------------------------

/** Makes a token for the actor's browser session; returns the token (shown once, never stored). */
export async function createToken(svc: Services, actor: Actor, returnUrl: URL): Promise<string> {
  if (!actor.session) throw badRequest("A remote-login token needs a browser session");
  const settings = await svc.settings.get(remoteLoginSettings);
  const token = randomHex(20);
  const hash = await sha256Hex(token);
  const now = svc.now();
  await svc.db.deleteFrom("remote_login_tokens").where("expires_at", "<=", now).execute();
  await svc.db.insertInto("remote_login_tokens").values({
    id: tokenId(hash),
    token_hash: hash,
    user_id: actor.userId,
    session_id: actor.session.id,
    created_at: now,
    expires_at: new Date(now.getTime() + settings.tokenMinutes * 60_000),
  }).execute();
  svc.audit.record({
    ...auditActor(actor),
    door: "remote",
    event: "remote.create",
    outcome: "ok",
    credential: { kind: "remote_token", id: tokenId(hash) },
    detail: returnUrl.origin,
  });
  return token;
}

type Verification =
  | { success: true; email: string; bits: number; phiLevel: DeclaredPhiLevel }
  | { success: false; message: string };

/**
 * What the token's user may do in the folder, computed now. A folder that
 * does not exist or that the user cannot read answers 0 alike.
 */
export async function verifyToken(
  svc: Services,
  input: { token: string; folderPath: string; clientAddr: string | null },
): Promise<Verification> {
  const cache = verifiedTokens(svc);
  const found = TOKEN.test(input.token)
    ? await cache.get(input.token, svc.now().getTime(), () => loadToken(svc, input.token))
    : null;
  const hash = found?.hash ?? await sha256Hex(input.token);
  const audit = {
    door: "remote" as const,
    event: "remote.verify",
    credential: { kind: "remote_token", id: tokenId(hash) },
    containerPath: input.folderPath,
    clientAddr: input.clientAddr,
  };
  const fail = async (message: string, drop: boolean): Promise<Verification> => {
    if (drop) {
      cache.drop(input.token);
      await svc.db.deleteFrom("remote_login_tokens").where("token_hash", "=", hash).execute();
    }
    svc.audit.record({ ...audit, outcome: "denied", message });
    return { success: false, message };
  };
  if (!found) return await fail(`Unknown or invalidated token: ${HOW_TO_RENEW}`, false);
  const { row, live } = found;
  if (svc.now().getTime() >= row.expires_at.getTime()) {
    return await fail(`The token has expired: ${HOW_TO_RENEW}`, true);
  }
  if (!live) {
    return await fail(`The labgate session of this token has ended: ${HOW_TO_RENEW}`, true);
  }
  const container = await getContainerByPath(svc, input.folderPath);
  const held = container ? await svc.permissions.resolve(row.user_id, container.id) : 0;
  const bits = hasPermission(held, Permission.READ) ? held : 0;
  svc.audit.record({
    ...audit,
    outcome: "ok",
    userId: row.user_id,
    userEmail: live.user.email,
    containerId: bits ? container!.id : null,
    detail: `permissions=${bits}`,
  });
  const { phiLevel } = await svc.settings.get(remoteLoginSettings);
  return { success: true, email: live.user.email, bits, phiLevel };
}

/** A token as verification needs it: its row and its browser session (null once ended). */
interface VerifiedToken {
  hash: string;
  row: RemoteLoginToken;
  live: LiveSession | null;
}

/**
 * Verified tokens, keyed by the token itself so repeated calls skip the
 * digest and the database for a second. Invalidation, sign-out and user
 * changes on any instance drop them at once (svc.invalidate); expiry is
 * checked at every call.
 */
const VERIFIED_CACHE_MS = 1_000;
const verifiedCaches = new WeakMap<Services, CredentialCache<VerifiedToken>>();

function verifiedTokens(svc: Services): CredentialCache<VerifiedToken> {
  let cache = verifiedCaches.get(svc);
  if (!cache) {
    const created = new CredentialCache<VerifiedToken>(VERIFIED_CACHE_MS);
    svc.invalidate.subscribe((event) => {
      if (event.kind === "remote_token") created.dropWhere((entry) => entry.hash === event.hash);
      else if (event.kind === "session") {
        created.dropWhere((entry) => entry.row.session_id === event.id);
      } else if (event.kind === "permissions" || event.kind === "all") created.drop();
    });
    verifiedCaches.set(svc, cache = created);
  }
  return cache;
}

async function loadToken(svc: Services, token: string): Promise<VerifiedToken | null> {
  const hash = await sha256Hex(token);
  const row = await svc.db.selectFrom("remote_login_tokens").selectAll()
    .where("token_hash", "=", hash).executeTakeFirst();
  if (!row) return null;
  return { hash, row, live: await getLiveSession(svc, row.session_id) };
}

/** Invalidates a token; false when it was unknown or already gone. */
export async function invalidateToken(
  svc: Services,
  input: { token: string; clientAddr: string | null },
): Promise<boolean> {
  const hash = await sha256Hex(input.token);
  const row = await svc.db.deleteFrom("remote_login_tokens").where("token_hash", "=", hash)
    .returning(["user_id"]).executeTakeFirst();
  if (row) await svc.invalidate.publish({ kind: "remote_token", hash });
  svc.audit.record({
    door: "remote",
    event: "remote.invalidate",
    outcome: row ? "ok" : "failed",
    userId: row?.user_id ?? null,
    credential: { kind: "remote_token", id: tokenId(hash) },
    clientAddr: input.clientAddr,
  });
  return row !== undefined;
}

const limiters = new WeakMap<Services, RateLimiter>();

/** verifyToken.view calls per client address in the last minute. */
export function verifyLimiter(svc: Services): RateLimiter {
  let limiter = limiters.get(svc);
  if (!limiter) {
    limiter = new RateLimiter({ windowMs: 60_000, now: svc.now });
    limiters.set(svc, limiter);
  }
  return limiter;
}
