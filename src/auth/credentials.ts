/**
 * The one place that turns what a request presents into an Actor. Every
 * door asks here: API keys and session keys (src/doors/keys/), the browser session
 * cookie; auth tokens plug into `CREDENTIAL_SOURCES` in the order they are tried.
 */
import type { Door } from "../audit/mod.ts";
import type { User } from "../db/schema.ts";
import type { Services } from "../services.ts";
import type { Actor, Compliance } from "../core/actor.ts";
import { keyCredentials } from "../doors/keys/door.ts";
import { resolveSessionCookie, SESSION_COOKIE } from "../data/sessions.ts";
import { tokenSource } from "../doors/tokens/resolve.ts";

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

export function actorFor(
  user: User,
  fields: Omit<Actor, "userId" | "email" | "displayName" | "userType">,
): Actor {
  return {
    userId: user.id,
    email: user.email,
    displayName: user.display_name,
    userType: user.user_type,
    ...fields,
  };
}

const sessionCookie: CredentialSource = async (svc, req) => {
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

/** Tried in order; explicit credentials (keys, tokens) go before the cookie. */
export const CREDENTIAL_SOURCES: CredentialSource[] = [keyCredentials, tokenSource, sessionCookie];

/** The actor for a request, or null for an anonymous one. */
export async function resolveActor(svc: Services, req: Presented): Promise<Actor | null> {
  for (const source of CREDENTIAL_SOURCES) {
    const actor = await source(svc, req);
    if (actor) return actor;
  }
  return null;
}
