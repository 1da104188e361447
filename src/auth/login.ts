/**
 * Password login for the browser and the JSON API: one message for every
 * wrong email or password, rate limits per account and per client address.
 */
import type { Door } from "../audit/mod.ts";
import type { User } from "../db/schema.ts";
import { forbidden, tooManyRequests, unauthorized } from "../errors.ts";
import { parseVerifier, verifyPassword } from "../security/scram.ts";
import type { Services } from "../services.ts";
import { getUserByEmail } from "../data/users.ts";

export const WRONG_CREDENTIALS = "Email or password is incorrect";
export const APP_USER_REFUSED =
  "External app accounts cannot sign in through the browser: use the app's auth token instead";

/** A verifier nobody's password matches, so unknown emails cost the same time. */
function decoyVerifier(svc: Services): string {
  return `SCRAM-SHA-256$${svc.config.scramIterations}:AAAAAAAAAAAAAAAAAAAAAA==$AA==:AA==`;
}

/** Throws 429 when the account or the address has too many recent failures. */
export function checkLoginRate(svc: Services, email: string, clientAddr: string | null): void {
  const limit = svc.config.loginFailureLimit;
  const wait = Math.max(
    svc.loginFailures.retryAfterMs(`account:${email.trim().toLowerCase()}`, limit),
    clientAddr ? svc.loginFailures.retryAfterMs(`addr:${clientAddr}`, limit * 4) : 0,
  );
  if (wait > 0) {
    const minutes = Math.max(1, Math.ceil(wait / 60_000));
    throw tooManyRequests(
      `Too many failed sign-in attempts: try again in ${minutes} minute${minutes > 1 ? "s" : ""}`,
    );
  }
}

export function recordLoginFailure(svc: Services, email: string, clientAddr: string | null): void {
  svc.loginFailures.hit(`account:${email.trim().toLowerCase()}`);
  if (clientAddr) svc.loginFailures.hit(`addr:${clientAddr}`);
}

/**
 * Checks an email and password: rate limits first, the same work and answer
 * for an unknown email as for a wrong password, inactive accounts refused.
 * Failures are audited as `event`. Returns the user, or throws 401, 403 or 429.
 */
export async function verifyEmailPassword(
  svc: Services,
  input: { email: string; password: string; clientAddr: string | null; door: Door; event: string },
): Promise<{ user: User; refuse: (message: string) => never }> {
  const email = input.email.trim();
  const failed = (message: string, outcome: "failed" | "denied") => {
    svc.audit.record({
      door: input.door,
      event: input.event,
      outcome,
      userEmail: email.slice(0, 254),
      clientAddr: input.clientAddr,
      credential: { kind: "password", id: null },
      message,
    });
  };
  try {
    checkLoginRate(svc, email, input.clientAddr);
  } catch (error) {
    failed("rate limited", "denied");
    throw error;
  }
  const user = email ? await getUserByEmail(svc, email) : undefined;
  const verifier = user?.password_verifier ?? decoyVerifier(svc);
  const ok = await verifyPassword(parseVerifier(verifier), input.password) &&
    !!user?.password_verifier;
  if (!ok || !user) {
    recordLoginFailure(svc, email, input.clientAddr);
    failed(WRONG_CREDENTIALS, "failed");
    throw unauthorized(WRONG_CREDENTIALS);
  }
  /** Refuses the (correct) credentials for a reason the caller names, audited. */
  const refuse = (message: string): never => {
    failed(message, "denied");
    throw forbidden(message);
  };
  if (!user.active) refuse("This account is deactivated: ask a site admin");
  svc.loginFailures.reset(`account:${email.toLowerCase()}`);
  return { user, refuse };
}

/**
 * Checks an email and password for a browser or API login. Returns the user,
 * or throws 401 (wrong), 403 (inactive or external app account) or 429.
 */
export async function checkPasswordLogin(
  svc: Services,
  input: { email: string; password: string; clientAddr: string | null; door: Door },
): Promise<User> {
  const { user, refuse } = await verifyEmailPassword(svc, { ...input, event: "login" });
  if (user.user_type === "app") refuse(APP_USER_REFUSED);
  await svc.db.updateTable("users").set({ last_login_at: svc.now() }).where("id", "=", user.id)
    .execute();
  return user;
}
