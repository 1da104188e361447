/**
 * How a key is presented: HTTP Basic with login `apikey` (so `.netrc` and
 * client libraries work), the `apikey` header, or the password of user
 * `apikey` on the SQL door.
 */
import type { Actor } from "../../core/actor.ts";
import type { CredentialSource } from "../../auth/credentials.ts";
import { unauthorized } from "../../errors.ts";
import { fromBase64 } from "../../security/secrets.ts";
import type { Services } from "../../services.ts";
import type { User } from "../../db/schema.ts";
import { KeyRefused, verifyKey, verifyKeyUser } from "./mod.ts";

/** The login name that says "the password is a key". */
export const KEY_LOGIN = "apikey";

const decoder = new TextDecoder();

/** Keys already read from a request's headers: the audit and the credential source both ask. */
const presented = new WeakMap<Headers, string | null>();

/** The key a request carries (Basic `apikey:<key>` or header `apikey`), or null. */
export function presentedKey(headers: Headers): string | null {
  if (presented.has(headers)) return presented.get(headers)!;
  const key = readKey(headers);
  presented.set(headers, key);
  return key;
}

function readKey(headers: Headers): string | null {
  const header = headers.get("apikey");
  if (header) return header.trim();
  const authorization = headers.get("authorization") ?? "";
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!match) return null;
  let decoded: string;
  try {
    decoded = decoder.decode(fromBase64(match[1]));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0 || decoded.slice(0, colon) !== KEY_LOGIN) return null;
  return decoded.slice(colon + 1);
}

/** The credential source for keys over HTTP; requests without a key are not its business. */
export const keyCredentials: CredentialSource = async (svc, req) => {
  const key = presentedKey(req.headers);
  if (key === null) return null;
  return await verifyKey(svc, key, { door: "key", clientAddr: req.clientAddr });
};

/**
 * Checks a key sent as a password (the SQL door, user `apikey`); the SQL door
 * has already decided that the secret came over an allowed transport
 * (wire/auth.ts). Returns the Actor and the user's record (as verified,
 * so the login need not read it again) or throws a LabgateError 401 with
 * the reason; refusals are audited here.
 */
export async function resolveKeySecret(
  svc: Services,
  login: { user: string; secret: string; clientAddr: string | null },
): Promise<{ actor: Actor; user: User }> {
  const audit = (message: string, refused?: KeyRefused) =>
    svc.audit.record({
      door: "sql",
      event: "key.login",
      outcome: "denied",
      userId: refused?.userId ?? null,
      credential: refused?.credential ?? null,
      clientAddr: login.clientAddr,
      message,
    });
  if (login.user !== KEY_LOGIN) {
    audit("not a key login");
    throw unauthorized(`Only user "${KEY_LOGIN}" signs in with a key`);
  }
  try {
    return await verifyKeyUser(svc, login.secret, { door: "sql", clientAddr: login.clientAddr });
  } catch (error) {
    if (error instanceof KeyRefused) audit(error.message, error);
    throw error;
  }
}
