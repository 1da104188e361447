/**
 * HTTP requests under way. A request resolves its actor once, when it
 * starts; a revocation heard after that (svc.invalidate, from any instance)
 * ends the actor's credential, so the request reads nothing more:
 * `actorBits()`, which every read asks before the data, refuses it with 401.
 * Deactivations and role changes need nothing here: the permissions asked
 * at the read are fresh.
 */
import { unauthorized } from "../errors.ts";
import type { Invalidation } from "../invalidation.ts";
import type { Services } from "../services.ts";
import type { Actor } from "./actor.ts";

/** Each request's actor while it runs, and why its credential ended (null while it stands). */
const inFlight = new WeakMap<Services, Map<Actor, string | null>>();

/** Why `event` ends the actor's credential, or null when it does not concern it. */
function endedBy(event: Invalidation, actor: Actor): string | null {
  const { kind, id } = actor.credential;
  switch (event.kind) {
    case "key":
      return (kind === "api_key" || kind === "session_key") && id === event.id
        ? "This key was revoked while the request ran"
        : null;
    case "session":
      return (actor.session?.id ?? actor.boundSession) === event.id
        ? "This browser session has ended"
        : null;
    case "token":
      return kind === "token" && (event.id === undefined || id === event.id)
        ? "This token or its app changed while the request ran: retry"
        : null;
    default:
      return null;
  }
}

function requestsOf(svc: Services): Map<Actor, string | null> {
  let requests = inFlight.get(svc);
  if (!requests) {
    const created = new Map<Actor, string | null>();
    svc.invalidate.subscribe((event) => {
      for (const [actor, ended] of created) {
        if (ended === null) created.set(actor, endedBy(event, actor));
      }
    });
    inFlight.set(svc, requests = created);
  }
  return requests;
}

/** Watches a request's actor until the returned function is called (the request ended). */
export function trackActor(svc: Services, actor: Actor): () => void {
  const requests = requestsOf(svc);
  requests.set(actor, null);
  return () => requests.delete(actor);
}

/** The actor's bits on the container, or 401 when its credential ended since its request began. */
export async function actorBits(
  svc: Services,
  actor: Actor | null,
  containerId: number,
): Promise<number> {
  if (!actor) return 0;
  const ended = inFlight.get(svc)?.get(actor);
  if (ended) throw unauthorized(ended);
  return await svc.permissions.resolve(actor.userId, containerId);
}
