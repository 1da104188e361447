/** Random secrets, hashes and comparisons: Web Crypto and built-ins only. */

const encoder = new TextEncoder();

/** `bytes` random bytes from the platform CSPRNG. */
export function randomBytes(bytes: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(bytes));
}

/** Lower-case hex of `bytes` random bytes (16 bytes = 128 bits). */
export function randomHex(bytes = 16): string {
  return toHex(randomBytes(bytes));
}

/** URL-safe base64 (no padding) of `bytes` random bytes. */
export function randomBase64Url(bytes = 24): string {
  return toBase64Url(randomBytes(bytes));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  // A plain loop: Uint8Array.from() with a mapper is several times slower on every key use.
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** SHA-256 of the UTF-8 text, as lower-case hex: how every secret is stored. */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

/** Compares two strings in time that depends only on their lengths (and allocates nothing). */
export function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  // Past the end charCodeAt() is NaN, and NaN | 0 is 0.
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

/**
 * Whether `secret` is the one stored as `hash`. A match is remembered in
 * `memo` (a short-lived cache entry), so presenting the same secret again
 * costs a comparison instead of a digest.
 */
export async function secretMatches(
  secret: string,
  hash: string,
  memo: { verified: string | null },
): Promise<boolean> {
  if (memo.verified !== null && timingSafeEqual(secret, memo.verified)) return true;
  if (!timingSafeEqual(await sha256Hex(secret), hash)) return false;
  memo.verified = secret;
  return true;
}
