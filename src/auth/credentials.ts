/**
 * What a credential source is, and the browser session cookie's source. The
 * doors bring their own sources (src/doors/keys/door.ts,
 * src/doors/tokens/resolve.ts); src/app/credentials.ts tries them in order.
 */
import type { Door } from "../audit/mod.ts";
import type { Services } from "../services.ts";
import { type Actor, actorFor, type Compliance } from "../core/actor.ts";
import { resolveSessionCookie, SESSION_COOKIE } from "../data/sessions.ts";

/** What a request presents, in web-standard terms. */
export interface Presented {
  headers: Headers;
  cookies: Record<string, string>;
  url: URL;
  clientAddr: string | null;
  door: Door;
  /** The HTTP method, for policies that allow only reads. */
  method?: string;
}

/**
 * A credential source looks at the request: null means "not mine, try the
 * next"; an Actor means authenticated; a thrown LabgateError (401/403) means
 * "mine, and refused" — no later source may then let the request in.
 */
export type CredentialSource = (svc: Services, req: Presented) => Promise<Actor | null>;

/** The browser session cookie, tried after the explicit credentials (keys, tokens). */
export const sessionCookieCredentials: CredentialSource = async (svc, req) => {
  const cookie = req.cookies[SESSION_COOKIE];
  if (!cookie) return null;
  const live = await resolveSessionCookie(svc, cookie);
  if (!live) return null;
  const { session, user } = live;
  return actorFor(user, {
    credential: { kind: "session", id: session.id },
    compliance: session.compliance as Compliance | null,
    impersonatorId: session.impersonator_id,
    session: { id: session.id, csrfToken: session.csrf_token },
    mustChangePassword: user.must_change_password,
    door: req.door,
    clientAddr: req.clientAddr,
  });
};
