/**
 * Seams the SQL door calls for decisions other doors own. Each answers
 * "no" until the owning feature lands.
 */
import type { CredentialKind } from "../auth/actor.ts";
import type { User } from "../db/schema.ts";
import type { Services } from "../services.ts";

/** A secret presented as the password of user `apikey` or `token`. */
export interface SecretLoginAttempt {
  kind: "apikey" | "token";
  secret: string;
  /** The connection is encrypted. */
  tls: boolean;
  clientAddr: string | null;
}

export interface SecretLogin {
  user: User;
  /** Which key or token, never the secret itself: goes to the audit log. */
  credential: { kind: CredentialKind; id: string | null };
  compliance: Record<string, unknown> | null;
}

/**
 * Resolves an API key, session key or auth token used as a SQL door
 * password; null refuses it. The key and token doors fill this in.
 */
export function resolveSecretLogin(
  _svc: Services,
  _attempt: SecretLoginAttempt,
): Promise<SecretLogin | null> {
  return Promise.resolve(null);
}

/**
 * Whether an external app user may use the SQL door: true once its app
 * lists the SQL entry point (token door).
 */
export function appUserMayUseSqlDoor(_svc: Services, _user: User): Promise<boolean> {
  return Promise.resolve(false);
}
