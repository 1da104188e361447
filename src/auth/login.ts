/**
 * Password login for the browser and the JSON API: one message for every
 * wrong email or password, rate limits per account and per client address.
 */
import type { Door } from "../audit/mod.ts";
import type { User } from "../db/schema.ts";
import { forbidden, tooManyRequests, unauthorized } from "../errors.ts";
import type { ThrottleRule } from "../security/login_throttle.ts";
import { parseVerifier, verifyPassword } from "../security/scram.ts";
import type { Services } from "../services.ts";
import { getUserByEmail } from "../data/users.ts";

const WRONG_CREDENTIALS = "Email or password is incorrect";
export const APP_USER_REFUSED =
  "External app accounts cannot sign in through the browser: use the app's auth token instead";

/** A verifier nobody's password matches, so unknown emails cost the same time. */
function decoyVerifier(svc: Services): string {
  return `SCRAM-SHA-256$${svc.config.scramIterations}:AAAAAAAAAAAAAAAAAAAAAA==$AA==:AA==`;
}

/** Who is signing in, for the back-off: an account (null for secret logins) from an address. */
interface LoginAttempt {
  account: string | null;
  clientAddr: string | null;
}

/**
 * The back-off rules of an attempt. The address may fail `4 × limit` times
 * over all accounts; an account `limit` times from one address. The
 * account's failures from every address slow down only addresses that have
 * failed on it themselves, so its owner, signing in from elsewhere with the
 * right password, is never held up by someone guessing it.
 */
async function loginRules(svc: Services, attempt: LoginAttempt): Promise<ThrottleRule[]> {
  const limit = svc.config.loginFailureLimit;
  const keys = throttleKeys(attempt);
  const rules: ThrottleRule[] = [];
  if (keys.addr) rules.push({ key: keys.addr, free: limit * 4 });
  if (keys.pair) rules.push({ key: keys.pair, free: limit });
  if (keys.account) {
    const failedHere = !keys.pair || (await svc.loginThrottle.failures([keys.pair])).has(keys.pair);
    if (failedHere) rules.push({ key: keys.account, free: limit });
  }
  return rules;
}

function throttleKeys(attempt: LoginAttempt) {
  const account = attempt.account?.trim().toLowerCase();
  const addr = attempt.clientAddr;
  return {
    addr: addr ? `addr:${addr}` : null,
    account: account ? `account:${account}` : null,
    pair: account && addr ? `pair:${account}|${addr}` : null,
  };
}

const present = (keys: (string | null)[]) => keys.filter((k): k is string => k !== null);

/** Throws 429 while the attempt must wait, saying how long. */
export async function checkLoginRate(svc: Services, attempt: LoginAttempt): Promise<void> {
  const wait = await svc.loginThrottle.waitMs(await loginRules(svc, attempt));
  if (wait > 0) {
    throw tooManyRequests(`Too many failed sign-in attempts: try again in ${waitText(wait)}`);
  }
}

function waitText(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds} second${seconds > 1 ? "s" : ""}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes > 1 ? "s" : ""}`;
}

export async function recordLoginFailure(svc: Services, attempt: LoginAttempt): Promise<void> {
  const { addr, account, pair } = throttleKeys(attempt);
  await svc.loginThrottle.fail(present([addr, account, pair]));
}

/** A successful sign-in forgets the account's failures (not the address's). */
export async function clearLoginFailures(svc: Services, attempt: LoginAttempt): Promise<void> {
  const { account, pair } = throttleKeys(attempt);
  await svc.loginThrottle.clear(present([account, pair]));
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
  const attempt = { account: email, clientAddr: input.clientAddr };
  try {
    await checkLoginRate(svc, attempt);
  } catch (error) {
    failed("rate limited", "denied");
    throw error;
  }
  const user = email ? await getUserByEmail(svc, email) : undefined;
  const verifier = user?.password_verifier ?? decoyVerifier(svc);
  const ok = await verifyPassword(parseVerifier(verifier), input.password) &&
    !!user?.password_verifier;
  if (!ok || !user) {
    await recordLoginFailure(svc, attempt);
    failed(WRONG_CREDENTIALS, "failed");
    throw unauthorized(WRONG_CREDENTIALS);
  }
  /** Refuses the (correct) credentials for a reason the caller names, audited. */
  const refuse = (message: string): never => {
    failed(message, "denied");
    throw forbidden(message);
  };
  if (!user.active) refuse("This account is deactivated: ask a site admin");
  await clearLoginFailures(svc, attempt);
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
