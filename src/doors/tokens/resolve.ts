/**
 * Using a token: the credential source for HTTP requests and the hook the
 * SQL door calls. A token, its app and its app user come from the short-lived
 * cache in cache.ts. Every use, allowed or refused, is audited.
 */
import { sql } from "kysely";
import type { Door } from "../../audit/mod.ts";
import { type Actor, actorFor } from "../../core/actor.ts";
import type { CredentialSource, Presented } from "../../auth/credentials.ts";
import type { AuthToken } from "../../db/schema.ts";
import { getUser, getUserByEmail } from "../../data/users.ts";
import { forbidden, LabgateError, tooManyRequests, unauthorized } from "../../errors.ts";
import { secretMatches, timingSafeEqual } from "../../security/secrets.ts";
import type { Services } from "../../services.ts";
import { allowsEntry, ENTRY_POINTS, type EntryPoint } from "./apps.ts";
import { type AppFacts, type Loaded, loadToken, type UserFacts } from "./cache.ts";
import { type DeclaredPhiLevel, parseDeclaredPhiLevel } from "../../security/phi.ts";
import { tokenSettings } from "./settings.ts";
import { parseTokenValue, TOKEN_PREFIX, TOKEN_STATUSES } from "./tokens.ts";

const TOKEN_COOKIE = "token";
const PROCESS_AS_HEADER = "x-process-as";
const LAST_USED_EVERY_MS = 5 * 60_000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

interface Use {
  entry: EntryPoint;
  door: Door;
  clientAddr: string | null;
  method?: string;
  path?: string;
  /** Email from `X-Process-As`. */
  processAs?: string | null;
}

/** Which permitted-action name a use needs, for restricted tokens. */
function actionOf(use: Use): string {
  if (use.entry === "sql") return "sql";
  if (use.entry === "action") return use.path?.split("/").pop() ?? "";
  return SAFE_METHODS.has(use.method ?? "GET") ? "rest.read" : "rest.write";
}

function matches(pattern: string, path: string): boolean {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*");
  return new RegExp(`^${escaped}$`).test(path);
}

/** The REST policy: read-only and allowed path patterns. */
function restRefusal(app: AppFacts, use: Use): string | null {
  if (app.rest_read_only && !SAFE_METHODS.has(use.method ?? "GET")) {
    return `External app ${app.id} has a read-only REST policy: ${use.method} is not allowed`;
  }
  const paths = app.rest_paths;
  if (paths.length && !paths.some((p) => matches(p, use.path ?? ""))) {
    return `External app ${app.id}'s REST policy does not allow ${use.path}`;
  }
  return null;
}

async function holdsRole(svc: Services, userId: number, role: string): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from lg_app.role_assignments
    where role = ${role} and (principal_id = ${userId}
      or principal_id in (select group_id from lg_app.group_members where user_id = ${userId}))
  `.execute(svc.db);
  return rows[0].n > 0;
}

/** The user the request acts as, within the token's process-as rule. */
async function actingUser(
  svc: Services,
  token: AuthToken,
  appUser: UserFacts,
  requested: string | null,
): Promise<UserFacts> {
  const same = (user: UserFacts) => requested?.toLowerCase() === user.email.toLowerCase();
  if (token.process_as === "never") {
    if (requested && !same(appUser)) {
      throw forbidden("This token may not process as another user: drop X-Process-As");
    }
    return appUser;
  }
  if (token.process_as === "specific") {
    const target = await getUser(svc, Number(token.process_as_target));
    if (!target?.active) throw forbidden("The user this token processes as is not active");
    if (requested && !same(target)) {
      throw forbidden(`This token processes only as ${target.email}`);
    }
    return target;
  }
  if (!requested) return appUser;
  const user = await getUserByEmail(svc, requested);
  if (!user?.active || (user.user_type === "app" && user.id !== appUser.id)) {
    throw forbidden(`Cannot process as ${requested}: no such active named user`);
  }
  const target = token.process_as_target ?? "";
  if (
    token.process_as === "department" && user.department.toLowerCase() !== target.toLowerCase()
  ) {
    throw forbidden(`Cannot process as ${requested}: not in department ${target}`);
  }
  if (token.process_as === "role" && !await holdsRole(svc, user.id, target)) {
    throw forbidden(`Cannot process as ${requested}: does not hold the ${target} role`);
  }
  return user;
}

/**
 * Whether `loaded` (whose secret matched) may be used for `use` at `now`:
 * the user it acts as, or a thrown LabgateError 401/403 with the reason.
 */
async function checkUse(svc: Services, loaded: Loaded, use: Use, now: Date): Promise<UserFacts> {
  const { token, app, appUser } = loaded;
  if (token.status === "active" && token.expires_at <= now) {
    await svc.db.updateTable("auth_tokens").set({ status: "expired" })
      .where("id", "=", token.id).where("status", "=", "active").execute();
    token.status = "expired";
  }
  if (token.status !== "active") {
    throw unauthorized(
      token.status === "pending"
        ? "This token is pending approval by a site admin"
        : `This token is ${TOKEN_STATUSES[token.status].toLowerCase()}: ask a site admin`,
    );
  }
  if (!app || app.status !== "active") {
    throw forbidden(`External app ${token.app_id} is disabled`);
  }
  if (!allowsEntry(app, use.entry)) {
    throw forbidden(`External app ${app.id} may not use the ${ENTRY_POINTS[use.entry]}`);
  }
  const policy = use.entry === "rest" ? restRefusal(app, use) : null;
  if (policy) throw forbidden(policy);
  if (!appUser?.active) throw forbidden("This token's app user is deactivated");
  if (appUser.external_app_id !== app.id) {
    throw forbidden(`This token's app user no longer belongs to external app ${app.id}`);
  }
  const action = actionOf(use);
  if (token.permitted === "restricted" && !token.permitted_list.includes(action)) {
    throw forbidden(`This token is not permitted to use ${action}`);
  }
  return await actingUser(svc, token, appUser, use.processAs ?? null);
}

/** Checks a token value for one use and returns the actor, or throws 401/403. */
async function authenticate(svc: Services, value: string, use: Use): Promise<Actor> {
  const parsed = parseTokenValue(value);
  let token: AuthToken | undefined;
  let app: AppFacts | null = null;
  let appUser: UserFacts | null = null;
  let acting: UserFacts | undefined;
  const audit = (outcome: "ok" | "denied", message?: string) =>
    svc.audit.record({
      door: use.door,
      event: "token.use",
      outcome,
      userId: acting?.id ?? appUser?.id ?? null,
      userEmail: acting?.email ?? appUser?.email ?? null,
      credential: { kind: "token", id: token?.id ?? parsed?.id ?? null },
      clientAddr: use.clientAddr,
      detail: JSON.stringify({
        app: app?.id ?? null,
        appUser: appUser?.email ?? null,
        processAs: acting && appUser && acting.id !== appUser.id ? acting.email : null,
        entry: use.entry,
        action: use.entry === "sql" ? "sql login" : `${use.method ?? ""} ${use.path ?? ""}`.trim(),
      }),
      message: message ?? null,
    });
  const failures = use.clientAddr ? `token-addr:${use.clientAddr}` : null;
  const rule = failures ? [{ key: failures, free: svc.config.loginFailureLimit * 4 }] : [];
  try {
    const loaded = parsed ? await loadToken(svc, parsed.id) : null;
    // The back-off slows guessing; a secret this instance verified within the cache's second
    // (loaded.verified) is not a guess, and skipping the shared throttle's query for it saves
    // a round trip per call. Every other secret still waits out the back-off first.
    const proven = parsed !== null && loaded !== null && loaded.verified !== null &&
      timingSafeEqual(parsed.secret, loaded.verified);
    if (!proven && await svc.loginThrottle.waitMs(rule)) {
      throw tooManyRequests("Too many unknown auth tokens from this address: try again later");
    }
    if (
      !parsed || !loaded || !await secretMatches(parsed.secret, loaded.token.secret_hash, loaded)
    ) {
      if (failures) await svc.loginThrottle.fail([failures]);
      throw unauthorized(
        parsed ? "Unknown auth token" : "This is not a labgate auth token (lgt_<id>.<secret>)",
      );
    }
    ({ token, app, appUser } = loaded);
    const now = svc.now();
    acting = await checkUse(svc, loaded, use, now);
    if (!token.last_used_at || now.getTime() - token.last_used_at.getTime() > LAST_USED_EVERY_MS) {
      token.last_used_at = now;
      await svc.db.updateTable("auth_tokens").set({ last_used_at: now })
        .where("id", "=", token.id).execute();
    }
  } catch (error) {
    if (error instanceof LabgateError) audit("denied", error.message);
    throw error;
  }
  audit("ok");
  return actorFor(acting, {
    credential: { kind: "token", id: token.id },
    compliance: null,
    phiLevel: parseDeclaredPhiLevel(app!.phi_level),
    impersonatorId: null,
    door: use.door,
    clientAddr: use.clientAddr,
    token: {
      id: token.id,
      // checkUse() refuses a token without an active app and app user.
      appId: app!.id,
      appUserEmail: appUser!.email,
      permitted: token.permitted,
      actions: token.permitted_list,
    },
  });
}

/** Doors whose requests are the REST query API (`/api/*`, LabKey-style query routes). */
const REST_DOORS = new Set<Door>(["api", "key"]);

/** Audits a token refused before it is looked up (wrong place, URL parameter turned off). */
function refuseEarly(svc: Services, req: Presented, value: string, error: LabgateError): never {
  svc.audit.record({
    door: req.door,
    event: "token.use",
    outcome: "denied",
    credential: { kind: "token", id: parseTokenValue(value)?.id ?? null },
    clientAddr: req.clientAddr,
    detail: JSON.stringify({ action: `${req.method ?? ""} ${req.url.pathname}`.trim() }),
    message: error.message,
  });
  throw error;
}

/** The token a request presents (header, cookie, then URL parameter), or null. */
async function presentedToken(svc: Services, req: Presented): Promise<string | null> {
  const header = /^Token\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "")?.[1];
  const param = req.url.searchParams.get(TOKEN_COOKIE);
  if (!REST_DOORS.has(req.door) && req.door !== "token") {
    // Browser pages never take tokens; a stray cookie is left alone, a presented token refused.
    const shown = header ?? (param?.startsWith(TOKEN_PREFIX) ? param : undefined);
    if (shown) {
      refuseEarly(
        svc,
        req,
        shown,
        forbidden("Auth tokens are not accepted on browser pages: use the API or /actions"),
      );
    }
    return null;
  }
  if (param !== null && !(await svc.settings.get(tokenSettings)).allowTokenInRequest) {
    refuseEarly(
      svc,
      req,
      param,
      unauthorized(
        "Tokens in the request URL are turned off by the security policy: send the header Authorization: Token <value>",
      ),
    );
  }
  return header ?? req.cookies[TOKEN_COOKIE] ?? param;
}

/**
 * The token credential source: `Authorization: Token …`, cookie `token`, or
 * (when the security policy allows) `?token=`. The entry point follows the
 * door: `api` and `key` are the REST query API, `token` the action endpoint.
 * Browser pages never accept tokens.
 */
export const tokenSource: CredentialSource = async (svc, req) => {
  const value = await presentedToken(svc, req);
  if (value === null) return null;
  return await authenticate(svc, value, {
    entry: req.door === "token" ? "action" : "rest",
    door: req.door,
    clientAddr: req.clientAddr,
    method: req.method,
    path: req.url.pathname,
    processAs: req.headers.get(PROCESS_AS_HEADER),
  });
};

/**
 * The SQL door's hook for user `token`: the password is the token value.
 * Needs the app's `sql` entry point. The SQL door has already decided that the
 * secret came over an allowed transport (wire/auth.ts). Throws LabgateError
 * 401/403 with the reason.
 */
export async function resolveTokenSecret(
  svc: Services,
  options: { secret: string; clientAddr: string | null; processAs?: string },
): Promise<Actor> {
  return await authenticate(svc, options.secret, {
    entry: "sql",
    door: "sql",
    clientAddr: options.clientAddr,
    processAs: options.processAs ?? null,
  });
}

/** Where a token already in use on the SQL door stands now. */
type TokenStanding =
  | { ended: string }
  | { ended: null; userId: number; until: Date; phiLevel: DeclaredPhiLevel };

/**
 * Checks token `id` again for the SQL door, without its secret (a
 * connection signed in with it is open): `ended` says why it may no longer
 * be used; else the user it acts as, when it expires and its app's PHI level.
 */
export async function tokenStanding(svc: Services, id: string): Promise<TokenStanding> {
  const loaded = await loadToken(svc, id);
  if (!loaded) return { ended: "Unknown auth token" };
  try {
    const acting = await checkUse(
      svc,
      loaded,
      { entry: "sql", door: "sql", clientAddr: null },
      svc.now(),
    );
    return {
      ended: null,
      userId: acting.id,
      until: loaded.token.expires_at,
      phiLevel: parseDeclaredPhiLevel(loaded.app!.phi_level),
    };
  } catch (error) {
    if (error instanceof LabgateError) return { ended: error.message };
    throw error;
  }
}
