/**
 * Client helper for sites that sign their users in through labgate's
 * remote-login door. Web-standard only (fetch, URL): runs in Deno, Node and
 * browsers. It builds the login redirect, reads the token on return, asks
 * labgate what the user may do in a folder, decodes the permission bits and
 * caches answers for a while.
 *
 * ```ts
 * const labgate = new RemoteLoginClient({ baseUrl: "https://labgate.example" });
 * const identity = await labgate.completeLogin(sessionId, request.url) ??
 *   await labgate.identity(sessionId);
 * if (!identity) return Response.redirect(labgate.loginRedirectUrl(request.url));
 * const answer = await labgate.verify(identity.token, "/home/assays");
 * if (answer.success && answer.permissions.has("READ")) showData();
 * ```
 */

/** The permission bits of the remote-login contract. */
export const PERMISSION_BITS = {
  READ: 0x1,
  INSERT: 0x2,
  UPDATE: 0x4,
  DELETE: 0x8,
  ADMIN: 0x8000,
} as const;
export type RemotePermission = keyof typeof PERMISSION_BITS;

/** What labgate hands back on the returnUrl, kept per host-app session. */
export interface RemoteIdentity {
  token: string;
  email: string;
}

/** Where the host app keeps each of its sessions' labgate token and email. */
export interface SessionStore {
  get(sessionId: string): RemoteIdentity | undefined | Promise<RemoteIdentity | undefined>;
  set(sessionId: string, identity: RemoteIdentity): void | Promise<void>;
  delete(sessionId: string): void | Promise<void>;
}

/** A SessionStore in memory: enough for one process. */
export class MemorySessionStore implements SessionStore {
  readonly #identities = new Map<string, RemoteIdentity>();

  get(sessionId: string): RemoteIdentity | undefined {
    return this.#identities.get(sessionId);
  }

  set(sessionId: string, identity: RemoteIdentity): void {
    this.#identities.set(sessionId, identity);
  }

  delete(sessionId: string): void {
    this.#identities.delete(sessionId);
  }
}

export interface Granted {
  success: true;
  email: string;
  /** The bits as labgate sent them. */
  bits: number;
  permissions: Set<RemotePermission>;
}

export interface Refused {
  success: false;
  /** Why labgate refused the token (unknown, expired, invalidated, session ended). */
  message: string;
}

export type VerifyResult = Granted | Refused;

export interface RemoteLoginClientOptions {
  /** labgate's base URL, e.g. `https://labgate.example` (a path prefix is kept). */
  baseUrl: string | URL;
  /** The fetch to use (tests pass one that calls the app directly). */
  fetch?: typeof fetch;
  /** How long a successful answer for a (token, folder) is reused; 0 asks every time. */
  cacheMs?: number;
  store?: SessionStore;
  /** The clock, for tests. */
  now?: () => number;
}

const TOKEN_PARAM = "labkeyToken";
const CACHE_LIMIT = 10_000;
const EMAIL_PARAM = "labkeyEmail";

/** The named permissions in `bits`. */
export function decodePermissions(bits: number): Set<RemotePermission> {
  const names = Object.keys(PERMISSION_BITS) as RemotePermission[];
  return new Set(names.filter((name) => (bits & PERMISSION_BITS[name]) !== 0));
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, name: string) => {
    if (name.startsWith("#x")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(parseInt(name.slice(1), 10));
    const value = ENTITIES[name];
    if (value === undefined) throw new Error(`Unknown XML entity ${whole} in the labgate answer`);
    return value;
  });
}

/**
 * The attributes of the `<TokenAuthentication …/>` document labgate answers
 * with. Strict: anything else (another element, a stray `<` or `&`, a
 * repeated attribute) is an error.
 */
export function parseTokenAuthentication(xml: string): Record<string, string> {
  const match =
    /^\s*(?:<\?xml[^?]*\?>\s*)?<TokenAuthentication((?:\s+[A-Za-z_][\w.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(?:\/>|>\s*<\/TokenAuthentication\s*>)\s*$/
      .exec(xml);
  if (!match) throw new Error("The labgate answer is not a TokenAuthentication XML document");
  const attributes: Record<string, string> = {};
  for (
    const [, name, double, single] of match[1].matchAll(/([\w.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)
  ) {
    if (Object.hasOwn(attributes, name)) {
      throw new Error(`The labgate answer repeats the attribute ${name}`);
    }
    const raw = double ?? single;
    if (/&(?!#x[0-9a-fA-F]+;|#[0-9]+;|[a-z]+;)/.test(raw)) {
      throw new Error(`The labgate answer has a bare & in the attribute ${name}`);
    }
    attributes[name] = decodeEntities(raw);
  }
  return attributes;
}

export class RemoteLoginClient {
  readonly #base: URL;
  readonly #fetch: typeof fetch;
  readonly #cacheMs: number;
  readonly #store: SessionStore;
  readonly #now: () => number;
  readonly #cache = new Map<string, { until: number; answer: Granted }>();

  constructor(options: RemoteLoginClientOptions) {
    const base = new URL(options.baseUrl);
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.#base = base;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#cacheMs = options.cacheMs ?? 60_000;
    this.#store = options.store ?? new MemorySessionStore();
    this.#now = options.now ?? Date.now;
  }

  #url(path: string, params: Record<string, string>): string {
    const url = new URL(path, this.#base);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return url.href;
  }

  /** Where to send the browser to sign in; labgate comes back to `returnUrl` with a token. */
  loginRedirectUrl(returnUrl: string | URL): string {
    return this.#url("login/createToken.view", { returnUrl: String(returnUrl) });
  }

  /** The token and email labgate added to `url`, or null when it carries none. */
  readReturn(url: string | URL): RemoteIdentity | null {
    const params = new URL(url).searchParams;
    const token = params.get(TOKEN_PARAM);
    const email = params.get(EMAIL_PARAM);
    return token && email !== null ? { token, email } : null;
  }

  /** `url` without the token and email (the rest kept as sent), to redirect to once stored. */
  stripReturn(url: string | URL): string {
    const result = new URL(url);
    result.search = result.search.slice(1).split("&").filter((part) => {
      const name = [...new URLSearchParams(part).keys()][0];
      return part && name !== TOKEN_PARAM && name !== EMAIL_PARAM;
    }).join("&");
    return result.href;
  }

  /** Stores the identity `url` carries for the session and returns it; null when none. */
  async completeLogin(sessionId: string, url: string | URL): Promise<RemoteIdentity | null> {
    const identity = this.readReturn(url);
    if (identity) await this.#store.set(sessionId, identity);
    return identity;
  }

  /** The session's stored identity, if it has signed in. */
  async identity(sessionId: string): Promise<RemoteIdentity | null> {
    return (await this.#store.get(sessionId)) ?? null;
  }

  /**
   * What the token's user may do in `folderPath`. A refused token is an
   * answer (`success: false`); network and server failures throw.
   */
  async verify(token: string, folderPath: string): Promise<VerifyResult> {
    const key = `${token}\n${folderPath}`;
    const cached = this.#cache.get(key);
    if (cached && cached.until > this.#now()) return cached.answer;
    this.#cache.delete(key);
    const folder = folderPath.split("/").filter((p) => p).map(encodeURIComponent).join("/");
    const path = folder ? `login/${folder}/verifyToken.view` : "login/verifyToken.view";
    const response = await this.#fetch(this.#url(path, { [TOKEN_PARAM]: token }));
    const text = await response.text();
    if (response.status !== 200) {
      throw new Error(`labgate answered ${response.status} to verifyToken: ${summary(text)}`);
    }
    const attributes = parseTokenAuthentication(text);
    if (attributes.success !== "true") {
      return { success: false, message: attributes.message ?? "The token was refused" };
    }
    const bits = Number(attributes.permissions);
    if (!Number.isInteger(bits) || bits < 0) {
      throw new Error(`labgate sent permissions="${attributes.permissions}", not a number`);
    }
    const answer: Granted = {
      success: true,
      email: attributes.email ?? "",
      bits,
      permissions: decodePermissions(bits),
    };
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    if (this.#cacheMs > 0) this.#cache.set(key, { until: this.#now() + this.#cacheMs, answer });
    return answer;
  }

  /** Invalidates the token at labgate (server to server); false when it was already gone. */
  async invalidate(token: string): Promise<boolean> {
    this.#forget(token);
    const response = await this.#fetch(
      this.#url("login/invalidateToken.view", { [TOKEN_PARAM]: token }),
    );
    const text = await response.text();
    if (response.status !== 200) {
      throw new Error(`labgate answered ${response.status} to invalidateToken: ${summary(text)}`);
    }
    return parseTokenAuthentication(text).success === "true";
  }

  /** Where to send the browser to invalidate the token and come back to `returnUrl`. */
  invalidateRedirectUrl(token: string, returnUrl: string | URL): string {
    this.#forget(token);
    return this.#url("login/invalidateToken.view", {
      [TOKEN_PARAM]: token,
      returnUrl: String(returnUrl),
    });
  }

  /** Forgets the session's identity and invalidates its token at labgate. */
  async logout(sessionId: string): Promise<void> {
    const identity = await this.identity(sessionId);
    await this.#store.delete(sessionId);
    if (identity) await this.invalidate(identity.token);
  }

  /** Drops the session's identity (e.g. after labgate refused its token). */
  async forget(sessionId: string): Promise<void> {
    const identity = await this.identity(sessionId);
    if (identity) this.#forget(identity.token);
    await this.#store.delete(sessionId);
  }

  #forget(token: string): void {
    for (const key of this.#cache.keys()) {
      if (key.startsWith(`${token}\n`)) this.#cache.delete(key);
    }
  }
}

function summary(text: string): string {
  return text.replace(/\s+/g, " ").slice(0, 200);
}
