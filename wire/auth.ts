/**
 * Authentication on the SQL door. Email logins run SCRAM-SHA-256 against
 * the stored verifier; an unknown email gets a made-up verifier with a
 * stable salt, so the exchange looks the same and fails at the proof with
 * the same message. `apikey` and `token` logins send their secret as a
 * cleartext password, which is asked for only over TLS, or from loopback
 * where the admin allows it (`secretTransportAllowed()`).
 */
import type { Compliance, CredentialKind } from "../src/core/actor.ts";
import { checkLoginRate, clearLoginFailures, recordLoginFailure } from "../src/auth/login.ts";
import { getUserByEmail } from "../src/data/users.ts";
import type { User } from "../src/db/schema.ts";
import { LabgateError } from "../src/errors.ts";
import {
  parseVerifier,
  ScramError,
  ScramServerExchange,
  type ScramVerifier,
} from "../src/security/scram.ts";
import { randomBytes } from "../src/security/secrets.ts";
import type { Services } from "../src/services.ts";
import { secretTransportAllowed, type SqlDoorSettings } from "../src/doors/sql/settings.ts";
import { appUserSqlLevel, resolveSecretLogin } from "./secret_login.ts";
import { decodeText, Reader } from "./protocol/bytes.ts";
import { fatal, SqlState } from "./protocol/errors.ts";
import { AuthCode, FrontendCode } from "./protocol/message_codes.ts";
import type { DeclaredPhiLevel } from "../src/security/phi.ts";
import { authentication, authenticationSasl } from "./protocol/messages.ts";

/** How the session exchanges authentication messages with its client. */
interface Conversation {
  send(bytes: Uint8Array): void;
  /** The client's next message (any type; the caller checks). */
  receive(): Promise<Uint8Array>;
}

export interface Authenticated {
  user: User;
  credential: { kind: CredentialKind; id: string | null };
  compliance: Compliance | null;
  /**
   * The PHI level in force: a key's or token's, an app account's app's; a
   * person's password declares none (not_phi).
   */
  phiLevel: DeclaredPhiLevel;
  /** The API key's or user's own statement time limit, set by an admin; null: the site's. */
  statementTimeoutSeconds: number | null;
}

interface AuthRequest {
  /** The StartupMessage `user`. */
  name: string;
  tls: boolean;
  clientAddr: string | null;
  /** Whether cleartext secrets may come without TLS from loopback (`secretTransportAllowed()`). */
  settings: Pick<SqlDoorSettings, "allowLoopbackCleartext">;
}

const SECRET_LOGINS = new Set(["apikey", "token"]);

function passwordFailed(name: string) {
  return fatal(SqlState.InvalidPassword, `Password authentication failed for user "${name}"`);
}

/** A verifier that no password matches, with a salt that does not change between attempts. */
async function decoyVerifier(svc: Services, name: string): Promise<ScramVerifier> {
  const seed = new TextEncoder().encode(`labgate-scram-decoy:${svc.database.installId}:${name}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", seed));
  return {
    iterations: svc.config.scramIterations,
    salt: digest.slice(0, 16),
    storedKey: randomBytes(32),
    serverKey: randomBytes(32),
  };
}

async function password(conversation: Conversation): Promise<Uint8Array> {
  const message = await conversation.receive();
  if (message[0] !== FrontendCode.Password) {
    throw fatal(
      SqlState.ProtocolViolation,
      `Expected a password message, got message type "${String.fromCharCode(message[0])}"`,
    );
  }
  return message.subarray(5);
}

/** Runs the login for `request`; throws a FATAL WireError when it fails (after auditing it). */
export async function authenticate(
  svc: Services,
  conversation: Conversation,
  request: AuthRequest,
): Promise<Authenticated> {
  const { name, clientAddr } = request;
  const failed = (message: string, outcome: "failed" | "denied", kind = "password") =>
    svc.audit.record({
      door: "sql",
      event: "login",
      outcome,
      userEmail: name.slice(0, 254),
      clientAddr,
      credential: { kind, id: null },
      message,
    });
  if (!name) {
    throw fatal(
      SqlState.InvalidAuthorization,
      "No user name given: connect with your labgate email as the user name",
    );
  }
  // Secret logins share one user name, so their failures count per client address only.
  const attempt = { account: SECRET_LOGINS.has(name) ? null : name, clientAddr };
  // The back-off is read while the client is asked for its password, and decided before
  // the password or secret is checked: a throttled attempt is never tried.
  const throttled = checkLoginRate(svc, attempt).then(() => null, (error: unknown) => error);
  const admitted = async () => {
    const error = await throttled;
    if (error === null) return;
    if (!(error instanceof LabgateError)) throw error;
    failed("rate limited", "denied");
    throw fatal(SqlState.InvalidAuthorization, error.message);
  };
  if (SECRET_LOGINS.has(name)) {
    if (!secretTransportAllowed(request.settings, request)) {
      failed("secret login without TLS", "denied", name);
      throw fatal(
        SqlState.InvalidAuthorization,
        `Logging in as ${name} sends a secret: connect with TLS (sslmode=require)`,
      );
    }
    return await secretLogin(svc, conversation, request, admitted, async () => {
      await recordLoginFailure(svc, attempt);
      failed("unknown, expired or revoked secret", "failed", name);
    });
  }

  const user = await getUserByEmail(svc, name);
  const verifier = user?.password_verifier
    ? parseVerifier(user.password_verifier)
    : await decoyVerifier(svc, name.trim().toLowerCase());
  conversation.send(authenticationSasl());
  const initial = new Reader(await password(conversation));
  await admitted();
  const mechanism = initial.cstr();
  if (mechanism !== "SCRAM-SHA-256") {
    throw fatal(
      SqlState.InvalidAuthorization,
      `SASL mechanism ${mechanism} is not supported: use SCRAM-SHA-256`,
    );
  }
  const exchange = new ScramServerExchange(verifier);
  try {
    const length = initial.i32();
    conversation.send(authentication(
      AuthCode.SASLContinue,
      exchange.serverFirst(decodeText(initial.bytes(length))),
    ));
    const final = await exchange.serverFinal(decodeText(await password(conversation)));
    if (!user?.password_verifier) throw new ScramError("No password set", true);
    conversation.send(authentication(AuthCode.SASLFinal, final));
  } catch (error) {
    if (!(error instanceof ScramError)) throw error;
    if (!error.badPassword) throw fatal(SqlState.ProtocolViolation, error.message);
    await recordLoginFailure(svc, attempt);
    failed("wrong password or unknown user", "failed");
    throw passwordFailed(name);
  }
  if (!user.active) {
    failed("account deactivated", "denied");
    throw fatal(SqlState.InvalidAuthorization, "This account is deactivated: ask a site admin");
  }
  const appLevel = user.user_type === "app" ? await appUserSqlLevel(svc, user) : undefined;
  if (appLevel === null) {
    failed("external app account", "denied");
    throw fatal(
      SqlState.InvalidAuthorization,
      "External app accounts can use the SQL door only when their app allows it: ask an admin to enable the SQL entry point",
    );
  }
  await clearLoginFailures(svc, attempt);
  return {
    user,
    credential: { kind: "password", id: null },
    compliance: null,
    // A person's password declares no level; an app account has its app's.
    phiLevel: appLevel ?? "not_phi",
    statementTimeoutSeconds: user.statement_timeout_seconds,
  };
}

async function secretLogin(
  svc: Services,
  conversation: Conversation,
  request: AuthRequest,
  admitted: () => Promise<void>,
  failed: () => Promise<void>,
): Promise<Authenticated> {
  const kind = request.name as "apikey" | "token";
  conversation.send(authentication(AuthCode.CleartextPassword));
  const bytes = await password(conversation);
  await admitted();
  const secret = decodeText(bytes.subarray(0, Math.max(0, bytes.indexOf(0))));
  const login = secret
    ? await resolveSecretLogin(svc, {
      kind,
      secret,
      clientAddr: request.clientAddr,
    })
    : null;
  if (!login) {
    await failed();
    throw passwordFailed(kind);
  }
  return {
    user: login.user,
    credential: login.credential,
    compliance: login.compliance as Compliance | null,
    phiLevel: login.phiLevel,
    statementTimeoutSeconds: login.statementTimeoutSeconds,
  };
}
