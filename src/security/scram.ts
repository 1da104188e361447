/**
 * SCRAM-SHA-256 (RFC 5802 / RFC 7677) with Web Crypto: the password
 * verifier in PostgreSQL's own text format, and the server side of the
 * exchange that the SQL door runs with psql and the drivers.
 */
import { fromBase64, randomBytes, timingSafeEqual, toBase64 } from "./secrets.ts";

const encoder = new TextEncoder();

/** PostgreSQL's default, which every libpq client computes quickly. */
const DEFAULT_ITERATIONS = 4096;

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as PostgreSQL stores it. */
export interface ScramVerifier {
  iterations: number;
  salt: Uint8Array;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

export function formatVerifier(v: ScramVerifier): string {
  return `SCRAM-SHA-256$${v.iterations}:${toBase64(v.salt)}$${toBase64(v.storedKey)}:${
    toBase64(v.serverKey)
  }`;
}

export function parseVerifier(text: string): ScramVerifier {
  const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/
    .exec(text);
  if (!match) throw new Error("Not a SCRAM-SHA-256 verifier");
  return {
    iterations: Number(match[1]),
    salt: fromBase64(match[2]),
    storedKey: fromBase64(match[3]),
    serverKey: fromBase64(match[4]),
  };
}

/**
 * SASLprep, as far as passwords typed by people need it: NFKC and the
 * RFC 4013 mapping of non-ASCII spaces to space and of "commonly mapped to
 * nothing" characters to nothing.
 */
function saslPrep(password: string): string {
  return password
    .replace(/[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, "")
    .replace(/[\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g, " ")
    .normalize("NFKC");
}

async function hmac(key: Uint8Array, data: Uint8Array | string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, bytes as BufferSource));
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
}

async function saltedPassword(
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(saslPrep(password)),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

/** Derives the verifier for `password`; a fresh 16-byte salt unless one is given. */
export async function createVerifier(
  password: string,
  options: { iterations?: number; salt?: Uint8Array } = {},
): Promise<ScramVerifier> {
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  const salt = options.salt ?? randomBytes(16);
  const salted = await saltedPassword(password, salt, iterations);
  const clientKey = await hmac(salted, "Client Key");
  return {
    iterations,
    salt,
    storedKey: await sha256(clientKey),
    serverKey: await hmac(salted, "Server Key"),
  };
}

/** Checks a password typed into a form against a stored verifier. */
export async function verifyPassword(verifier: ScramVerifier, password: string): Promise<boolean> {
  const candidate = await createVerifier(password, {
    iterations: verifier.iterations,
    salt: verifier.salt,
  });
  return timingSafeEqual(toBase64(candidate.storedKey), toBase64(verifier.storedKey));
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((byte, i) => byte ^ b[i]);
}

/** Splits `a=1,b=2` into a map, keeping everything after the first `=`. */
function attributes(message: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of message.split(",")) {
    const eq = part.indexOf("=");
    if (eq === 1) map.set(part[0], part.slice(2));
  }
  return map;
}

/** Raised when a client's SCRAM message is malformed or its proof is wrong. */
export class ScramError extends Error {
  constructor(message: string, readonly badPassword = false) {
    super(message);
    this.name = "ScramError";
  }
}

/**
 * The server's half of one SCRAM-SHA-256 exchange. A missing user gets a
 * made-up verifier so the exchange looks the same and fails only at the proof.
 */
export class ScramServerExchange {
  readonly #verifier: ScramVerifier;
  readonly #serverNonce: string;
  #clientFirstBare = "";
  #serverFirst = "";
  #nonce = "";

  constructor(verifier: ScramVerifier, serverNonce = toBase64(randomBytes(18))) {
    this.#verifier = verifier;
    this.#serverNonce = serverNonce;
  }

  /** Answers the client-first-message with the server-first-message. */
  serverFirst(clientFirst: string): string {
    const gs2 = /^([ny]|p=[^,]*),([^,]*),(.*)$/.exec(clientFirst);
    if (!gs2) throw new ScramError("Malformed SCRAM client-first-message");
    if (gs2[1].startsWith("p=")) throw new ScramError("SCRAM channel binding is not supported");
    this.#clientFirstBare = gs2[3];
    const clientNonce = attributes(this.#clientFirstBare).get("r");
    if (!clientNonce) throw new ScramError("SCRAM client-first-message has no nonce");
    this.#nonce = clientNonce + this.#serverNonce;
    this.#serverFirst = `r=${this.#nonce},s=${
      toBase64(this.#verifier.salt)
    },i=${this.#verifier.iterations}`;
    return this.#serverFirst;
  }

  /** Checks the client-final-message; returns the server-final-message (`v=…`). */
  async serverFinal(clientFinal: string): Promise<string> {
    const proofAt = clientFinal.lastIndexOf(",p=");
    if (proofAt < 0) throw new ScramError("Malformed SCRAM client-final-message");
    const withoutProof = clientFinal.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    if (attrs.get("r") !== this.#nonce) throw new ScramError("SCRAM nonce does not match");
    const channel = attrs.get("c");
    if (channel !== "biws" && channel !== "eSws") {
      throw new ScramError("SCRAM channel binding is not supported");
    }
    let proof: Uint8Array;
    try {
      proof = fromBase64(clientFinal.slice(proofAt + 3));
    } catch {
      throw new ScramError("Malformed SCRAM client proof");
    }
    if (proof.length !== 32) throw new ScramError("Malformed SCRAM client proof");
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    const clientSignature = await hmac(this.#verifier.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    const storedKey = await sha256(clientKey);
    if (!timingSafeEqual(toBase64(storedKey), toBase64(this.#verifier.storedKey))) {
      throw new ScramError("Password authentication failed", true);
    }
    const serverSignature = await hmac(this.#verifier.serverKey, authMessage);
    return `v=${toBase64(serverSignature)}`;
  }
}

/** The client's half, for tests and for labgate's own backend connections. */
export class ScramClientExchange {
  readonly #password: string;
  readonly #clientNonce: string;
  #clientFirstBare = "";
  #serverSignature = "";

  constructor(password: string, clientNonce = toBase64(randomBytes(18))) {
    this.#password = password;
    this.#clientNonce = clientNonce;
  }

  clientFirst(user = ""): string {
    this.#clientFirstBare = `n=${user},r=${this.#clientNonce}`;
    return `n,,${this.#clientFirstBare}`;
  }

  async clientFinal(serverFirst: string): Promise<string> {
    const attrs = attributes(serverFirst);
    const nonce = attrs.get("r") ?? "";
    if (!nonce.startsWith(this.#clientNonce)) throw new ScramError("SCRAM server nonce is wrong");
    const salted = await saltedPassword(
      this.#password,
      fromBase64(attrs.get("s") ?? ""),
      Number(attrs.get("i")),
    );
    const clientKey = await hmac(salted, "Client Key");
    const storedKey = await sha256(clientKey);
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = await hmac(storedKey, authMessage);
    const serverKey = await hmac(salted, "Server Key");
    this.#serverSignature = toBase64(await hmac(serverKey, authMessage));
    return `${withoutProof},p=${toBase64(xor(clientKey, clientSignature))}`;
  }

  /** True when the server proved it knows the verifier. */
  verifyServerFinal(serverFinal: string): boolean {
    return timingSafeEqual(serverFinal, `v=${this.#serverSignature}`);
  }
}
