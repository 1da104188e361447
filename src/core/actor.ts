import type { AuditRecord, Door } from "../audit/mod.ts";
import type { User, UserType } from "../db/schema.ts";
import { phiLevelInForce } from "../security/phi.ts";

/** How the caller proved who they are. Doors add kinds; never holds a secret. */
/** How the actor proved who they are; `cli` is an operator's `deno task admin` on the server. */
export type CredentialKind = "session" | "password" | "api_key" | "session_key" | "token" | "cli";

/** Declarations a user makes at login when a folder or the site requires them. */
export interface Compliance {
  termsAccepted?: boolean;
  /** Which version of the terms of use was accepted. */
  termsVersion?: string;
  irbNumber?: string;
  phiLevel?: "none" | "limited" | "full";
}

/** The user a request acts as, and how that was established. */
export interface Actor {
  userId: number;
  email: string;
  displayName: string;
  userType: UserType;
  credential: { kind: CredentialKind; id: string | null };
  compliance: Compliance | null;
  /**
   * The PHI level the credential itself carries (an API key's, an external
   * app's); when absent, the session's declaration is in force
   * (src/security/phi.ts phiLevelInForce).
   */
  phiLevel?: "not_phi" | "limited" | "full";
  /** The admin who is impersonating `userId`, if any. */
  impersonatorId: number | null;
  /** The user signed in with a one-time password and must choose a new one first. */
  mustChangePassword?: boolean;
  /** The browser session a session key lives and dies with. */
  boundSession?: string;
  /** Present when the request came with a browser session cookie. */
  session?: { id: string; csrfToken: string };
  /** Which door the request came through, and from where: for the audit log. */
  door: Door;
  clientAddr: string | null;
  /** Present when an auth token authenticated the request (token door). */
  token?: TokenScope;
  /**
   * The caller's own statement time limit, set by an admin: the API key's,
   * else the user's; null or absent, the site's applies.
   */
  statementTimeoutSeconds?: number | null;
}

/** What an auth token lets its caller do; `userId` above is the process-as user. */
interface TokenScope {
  id: string;
  appId: string;
  appUserEmail: string;
  permitted: "full" | "restricted" | "roles";
  /** The listed actions when `permitted` is "restricted". */
  actions: string[];
}

/**
 * The audit fields that say who did something and how; `compliance` holds
 * the declarations and the PHI level in force (`phiLevelInForce`).
 */
export function auditActor(
  actor: Actor,
): Pick<AuditRecord, "door" | "userId" | "userEmail" | "credential" | "compliance" | "clientAddr"> {
  return {
    door: actor.door,
    userId: actor.userId,
    userEmail: actor.email,
    credential: actor.credential,
    compliance: { ...actor.compliance, phiLevelInForce: phiLevelInForce(actor) },
    clientAddr: actor.clientAddr,
  };
}

/** The one way to build an Actor: the user's own fields from `user`, the rest from the door. */
export function actorFor(
  user:
    & Pick<User, "id" | "email" | "display_name" | "user_type">
    & Partial<Pick<User, "statement_timeout_seconds">>,
  fields: Omit<Actor, "userId" | "email" | "displayName" | "userType">,
): Actor {
  return {
    userId: user.id,
    email: user.email,
    displayName: user.display_name,
    userType: user.user_type,
    statementTimeoutSeconds: user.statement_timeout_seconds ?? null,
    ...fields,
  };
}
