/**
 * The one place that turns what a request presents into an Actor. Every door
 * asks here: API keys and session keys (src/doors/keys/), auth tokens
 * (src/doors/tokens/), the browser session cookie (src/auth/credentials.ts).
 */
import {
  type CredentialSource,
  type Presented,
  sessionCookieCredentials,
} from "../auth/credentials.ts";
import type { Actor } from "../core/actor.ts";
import { keyCredentials } from "../doors/keys/door.ts";
import { tokenSource } from "../doors/tokens/resolve.ts";
import type { Services } from "../services.ts";

/** Tried in order; explicit credentials (keys, tokens) go before the cookie. */
const CREDENTIAL_SOURCES: CredentialSource[] = [
  keyCredentials,
  tokenSource,
  sessionCookieCredentials,
];

/** The actor for a request, or null for an anonymous one. */
export async function resolveActor(svc: Services, req: Presented): Promise<Actor | null> {
  for (const source of CREDENTIAL_SOURCES) {
    const actor = await source(svc, req);
    if (actor) return actor;
  }
  return null;
}
