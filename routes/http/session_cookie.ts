/**
 * The browser session's cookie, shared by the pages and the JSON API: how it
 * is set (hardened, Secure over TLS), and signing in and out with it.
 */
import { deleteCookie, setCookie } from "hono/cookie";
import { auditActor, type Compliance } from "../../src/core/actor.ts";
import { createSession, endSession, SESSION_COOKIE } from "../../src/data/sessions.ts";
import { getUser } from "../../src/data/users.ts";
import { type AppContext, clientAddr, secureCookies } from "./context.ts";

export function sessionCookieOptions(c: AppContext) {
  const svc = c.get("svc");
  return {
    httpOnly: true,
    sameSite: "Lax" as const,
    path: "/",
    secure: secureCookies(c),
    maxAge: svc.config.sessionMaxHours * 3600,
  };
}

/** Creates the session, sets its cookie, audits the login and redirects. */
export async function startSession(
  c: AppContext,
  userId: number,
  location: string,
  compliance: Compliance | null = null,
) {
  const svc = c.get("svc");
  const { cookie, session } = await createSession(svc, {
    userId,
    clientAddr: clientAddr(c),
    userAgent: c.req.header("user-agent"),
    compliance,
  });
  setCookie(c, SESSION_COOKIE, cookie, sessionCookieOptions(c));
  const user = (await getUser(svc, userId))!;
  svc.audit.record({
    door: c.get("door"),
    event: "login",
    outcome: "ok",
    userId,
    userEmail: user.email,
    credential: { kind: "session", id: session.id },
    compliance: compliance as Record<string, unknown> | null,
    clientAddr: clientAddr(c),
  });
  return c.redirect(location, 303);
}

/** Ends the session behind the cookie and audits the logout. */
export async function endLogin(c: AppContext, sessionId: string): Promise<void> {
  const svc = c.get("svc");
  const actor = c.get("actor");
  await endSession(svc, sessionId, "logout");
  deleteCookie(c, SESSION_COOKIE, { path: "/" });
  if (actor) svc.audit.record({ ...auditActor(actor), event: "logout", outcome: "ok" });
}
