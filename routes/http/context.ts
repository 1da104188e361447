/** What every route knows about a request: the services, the actor, the client. */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { Door } from "../../src/audit/mod.ts";
import type { Actor } from "../../src/core/actor.ts";
import type { Presented } from "../../src/auth/credentials.ts";
import { resolveActor } from "../../src/app/credentials.ts";
import { trackActor } from "../../src/core/in_flight.ts";
import { requireSiteAdmin } from "../../src/data/users.ts";
import { sqlDoorSettings, statementTimeoutMs } from "../../src/doors/sql/settings.ts";
import {
  DATABASE_UNAVAILABLE,
  forbidden,
  isDatabaseUnavailable,
  LabgateError,
  unauthorized,
} from "../../src/errors.ts";
import { cameOverTls, forwardedClient } from "../../src/security/forwarded.ts";
import { randomBase64Url, timingSafeEqual } from "../../src/security/secrets.ts";
import type { Services } from "../../src/services.ts";

/** Bindings the runtime adapter passes in (main.ts): the peer address. */
interface Bindings {
  clientAddr?: string;
}

export interface Env {
  Bindings: Bindings;
  Variables: {
    svc: Services;
    actor: Actor | null;
    /** Set by routes that know better than the path (e.g. key-authenticated LabKey API calls). */
    door: Door;
  };
}

export type AppContext = Context<Env>;

/** The client's address: the peer's, or what a trusted proxy says it is. */
export function clientAddr(c: AppContext): string | null {
  return forwardedClient(
    c.env?.clientAddr ?? null,
    c.req.header("x-forwarded-for"),
    c.get("svc").config.trustedProxies,
  );
}

/** Whether the request came over TLS (its cookies are then Secure, its answers HSTS). */
export function cameOverHttps(c: AppContext): boolean {
  return cameOverTls(
    new URL(c.req.url),
    c.env?.clientAddr ?? null,
    c.req.header("x-forwarded-proto"),
    c.get("svc").config.trustedProxies,
  );
}

/** Cookies are Secure when the site says so or the request came over TLS. */
export function secureCookies(c: AppContext): boolean {
  return c.get("svc").config.secureCookies || cameOverHttps(c);
}

/** The request as the credential resolver sees it. */
function presented(c: AppContext, door: Door): Presented {
  return {
    headers: c.req.raw.headers,
    cookies: getCookie(c),
    url: new URL(c.req.url),
    clientAddr: clientAddr(c),
    door,
    method: c.req.method,
  };
}

/**
 * Resolves the actor once per request (lazily: static files never ask), and
 * refuses every door with 503 while the audit log cannot be written.
 */
export function withActor(door: Door): MiddlewareHandler<Env> {
  return async (c, next) => {
    // No access while the audit log cannot record it (its entries wait until it can).
    const audit = c.get("svc").audit;
    if (audit.failing) {
      throw new LabgateError(
        503,
        isDatabaseUnavailable(audit.failure)
          ? DATABASE_UNAVAILABLE
          : "The audit log cannot be written: try again in a minute",
      );
    }
    c.set("door", door);
    const svc = c.get("svc");
    const actor = await resolveActor(svc, presented(c, door));
    c.set("actor", actor);
    if (!actor) return await next();
    // A revocation heard while the request runs refuses its reads from then on.
    const untrack = trackActor(svc, actor);
    try {
      await next();
    } finally {
      untrack();
    }
  };
}

/** The signed-in actor, or 401. */
/**
 * How long each statement of the request's heavy queries may run: the
 * caller's own limit (their API key's or their user's), else the site's.
 */
export async function statementTimeoutOf(svc: Services, actor: Actor | null): Promise<number> {
  return statementTimeoutMs(await svc.settings.get(sqlDoorSettings), actor ?? {});
}

export function requireActor(c: AppContext): Actor {
  const actor = c.get("actor");
  if (!actor) throw unauthorized("Sign in first");
  return actor;
}

/** The signed-in actor when they are a site admin; else a 401 or 403 LabgateError. */
export async function adminOnly(c: AppContext): Promise<Actor> {
  const actor = requireActor(c);
  await requireSiteAdmin(c.get("svc"), actor);
  return actor;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const CSRF_FIELD = "_csrf";
const CSRF_HEADERS = ["x-csrf-token", "x-labkey-csrf"];
/** Double-submit cookie for forms shown before there is a session (login). */
const PRE_SESSION_CSRF_COOKIE = "labgate_csrf";

async function submittedToken(c: AppContext): Promise<string | undefined> {
  for (const header of CSRF_HEADERS) {
    const value = c.req.header(header);
    if (value) return value;
  }
  const type = c.req.header("content-type") ?? "";
  if (
    type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/form-data")
  ) {
    const body = await c.req.parseBody();
    const value = body[CSRF_FIELD];
    return typeof value === "string" ? value : undefined;
  }
  return undefined;
}

/**
 * Every state-changing request made with a browser session cookie must carry
 * the session's CSRF token (form field `_csrf`, or header `X-CSRF-Token` /
 * `X-LABKEY-CSRF`), and a cross-site Origin is refused outright.
 */
export const csrfProtection: MiddlewareHandler<Env> = async (c, next) => {
  if (UNSAFE.has(c.req.method)) {
    const origin = c.req.header("origin");
    if (origin && origin !== "null" && origin !== new URL(c.req.url).origin) {
      throw forbidden("Cross-site request refused");
    }
    const actor = c.get("actor");
    if (actor?.session) {
      const token = await submittedToken(c);
      if (!token || !timingSafeEqual(token, actor.session.csrfToken)) {
        throw new LabgateError(
          403,
          "Missing or wrong CSRF token: reload the page and try again (API clients send the X-CSRF-Token header)",
        );
      }
    }
  }
  await next();
};

/** The login form's CSRF token: a random value in a cookie, echoed in the form. */
export function preSessionCsrf(c: AppContext): string {
  const existing = getCookie(c, PRE_SESSION_CSRF_COOKIE);
  if (existing) return existing;
  const token = randomBase64Url(18);
  setCookie(c, PRE_SESSION_CSRF_COOKIE, token, {
    httpOnly: true,
    sameSite: "Lax",
    path: "/",
    secure: secureCookies(c),
  });
  return token;
}

export async function checkPreSessionCsrf(c: AppContext): Promise<void> {
  const cookie = getCookie(c, PRE_SESSION_CSRF_COOKIE);
  const token = await submittedToken(c);
  if (!cookie || !token || !timingSafeEqual(cookie, token)) {
    throw new LabgateError(403, "The form expired: reload the page and try again");
  }
}
