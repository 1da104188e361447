/**
 * Where the SQL door asks the key and token doors about credentials they
 * own: secrets presented as the password of user `apikey` or `token`, and
 * whether an external app user's app allows the SQL entry point.
 */
import type { CredentialKind } from "../auth/actor.ts";
import type { User } from "../db/schema.ts";
import { getUser } from "../data/users.ts";
import { LabgateError } from "../errors.ts";
import { KEY_LOGIN, resolveSecretLogin as resolveKeyLogin } from "../keys/door.ts";
import { type DeclaredPhiLevel, phiLevelInForce } from "../security/phi.ts";
import type { Services } from "../services.ts";
import { allowsEntry, getApp } from "../tokens/apps.ts";
import { resolveTokenSecret } from "../tokens/resolve.ts";

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
  /** The PHI level in force for the connection (src/security/phi.ts phiLevelInForce). */
  phiLevel: DeclaredPhiLevel;
}

/**
 * Resolves an API key, session key or auth token used as a SQL door
 * password; null refuses it (the key and token doors audit why).
 */
export async function resolveSecretLogin(
  svc: Services,
  attempt: SecretLoginAttempt,
): Promise<SecretLogin | null> {
  try {
    const actor = attempt.kind === "apikey"
      ? await resolveKeyLogin(svc, { ...attempt, user: KEY_LOGIN })
      : await resolveTokenSecret(svc, attempt);
    const user = await getUser(svc, actor.userId);
    if (!user) return null;
    return {
      user,
      credential: actor.credential,
      compliance: actor.compliance as Record<string, unknown> | null,
      phiLevel: phiLevelInForce(actor),
    };
  } catch (error) {
    if (error instanceof LabgateError) return null;
    throw error;
  }
}

/** Whether an external app user may sign in with a password: its app is active and allows SQL. */
export async function appUserMayUseSqlDoor(svc: Services, user: User): Promise<boolean> {
  const app = user.external_app_id ? await getApp(svc, user.external_app_id) : undefined;
  return !!app && app.status === "active" && allowsEntry(app, "sql");
}
