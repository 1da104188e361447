/**
 * Where the SQL door asks the key and token doors about credentials they
 * own: secrets presented as the password of user `apikey` or `token`, and
 * whether an external app user's app allows the SQL entry point.
 */
import type { Actor, CredentialKind } from "../src/core/actor.ts";
import type { User } from "../src/db/schema.ts";
import { getUser } from "../src/data/users.ts";
import { LabgateError } from "../src/errors.ts";
import { KEY_LOGIN, resolveKeySecret } from "../src/doors/keys/door.ts";
import {
  type DeclaredPhiLevel,
  parseDeclaredPhiLevel,
  phiLevelInForce,
} from "../src/security/phi.ts";
import type { Services } from "../src/services.ts";
import { allowsEntry, getApp } from "../src/doors/tokens/apps.ts";
import { resolveTokenSecret } from "../src/doors/tokens/resolve.ts";

/** A secret presented as the password of user `apikey` or `token`. */
interface SecretLoginAttempt {
  kind: "apikey" | "token";
  secret: string;
  clientAddr: string | null;
}

interface SecretLogin {
  user: User;
  /** Which key or token, never the secret itself: goes to the audit log. */
  credential: { kind: CredentialKind; id: string | null };
  compliance: Record<string, unknown> | null;
  /** The PHI level in force for the connection (src/security/phi.ts phiLevelInForce). */
  phiLevel: DeclaredPhiLevel;
  /** The key's or user's own statement time limit; null: the site's. */
  statementTimeoutSeconds: number | null;
}

/**
 * Resolves an API key, session key or auth token used as a SQL door
 * password, once wire/auth.ts has allowed its transport (TLS, or loopback
 * cleartext where the admin allows it); null refuses it (the key and token
 * doors audit why).
 */
export async function resolveSecretLogin(
  svc: Services,
  attempt: SecretLoginAttempt,
): Promise<SecretLogin | null> {
  try {
    // A key's verification has its user's record already (cached with the key); a token's
    // acting user is read here.
    const { actor, user } = attempt.kind === "apikey"
      ? await resolveKeySecret(svc, { ...attempt, user: KEY_LOGIN })
      : await tokenLogin(svc, attempt);
    if (!user) return null;
    return {
      user,
      credential: actor.credential,
      compliance: actor.compliance as Record<string, unknown> | null,
      phiLevel: phiLevelInForce(actor),
      statementTimeoutSeconds: actor.statementTimeoutSeconds ?? null,
    };
  } catch (error) {
    if (error instanceof LabgateError) return null;
    throw error;
  }
}

async function tokenLogin(
  svc: Services,
  attempt: SecretLoginAttempt,
): Promise<{ actor: Actor; user: User | undefined }> {
  const actor = await resolveTokenSecret(svc, attempt);
  return { actor, user: await getUser(svc, actor.userId) };
}

/**
 * The PHI level an external app user signs in to the SQL door with, by
 * password: its app's; null when it may not (the app is disabled or does not
 * allow SQL).
 */
export async function appUserSqlLevel(svc: Services, user: User): Promise<DeclaredPhiLevel | null> {
  const app = user.external_app_id ? await getApp(svc, user.external_app_id) : undefined;
  return app && app.status === "active" && allowsEntry(app, "sql")
    ? parseDeclaredPhiLevel(app.phi_level)
    : null;
}
