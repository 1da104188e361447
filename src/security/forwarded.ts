/**
 * Who is on the other end of an HTTP request. Behind a reverse proxy every
 * request comes from the proxy, so rate limits and the audit log would see
 * one address for everyone: the proxy's `X-Forwarded-For` and
 * `X-Forwarded-Proto` are believed, but only from the addresses configured in
 * `LABGATE_TRUSTED_PROXIES` — from anyone else they are whatever the client
 * wanted to claim.
 */

/**
 * Whether an address is this machine (127.0.0.0/8, ::1, and IPv4 loopback on
 * a dual-stack socket): the one definition every door uses, for cleartext
 * secrets from loopback and loopback-only metrics.
 */
export function isLoopback(address: string | null | undefined): boolean {
  if (!address) return false;
  const normalized = normalizeAddress(address);
  return normalized === "::1" || /^127\.\d+\.\d+\.\d+$/.test(normalized);
}

/** `::ffff:10.0.0.2` (IPv4 on a dual-stack socket) is `10.0.0.2`. */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim().replace(/^\[(.*)\]$/, "$1");
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(trimmed) ? trimmed.slice(7) : trimmed.toLowerCase();
}

/**
 * The client's address: the peer, or when the peer is a trusted proxy, the
 * right-most address in `X-Forwarded-For` that is not itself a trusted proxy
 * (everything left of it was written by the client and proves nothing).
 */
export function forwardedClient(
  peer: string | null,
  forwardedFor: string | null | undefined,
  trusted: ReadonlySet<string>,
): string | null {
  if (!peer) return null;
  let client = normalizeAddress(peer);
  if (!forwardedFor || !trusted.has(client)) return client;
  const hops = forwardedFor.split(",").map(normalizeAddress).filter(Boolean);
  while (hops.length && trusted.has(client)) client = hops.pop()!;
  return client;
}

/** Whether the request reached labgate over TLS, directly or through a trusted proxy. */
export function cameOverTls(
  url: URL,
  peer: string | null,
  forwardedProto: string | null | undefined,
  trusted: ReadonlySet<string>,
): boolean {
  if (url.protocol === "https:") return true;
  if (!peer || !trusted.has(normalizeAddress(peer))) return false;
  return forwardedProto?.split(",")[0].trim().toLowerCase() === "https";
}
