/**
 * Configuration from environment variables. Every variable, its default and
 * its meaning is listed in README.md; this is the one place that reads them.
 */
import { DEFAULT_PREEMPT_AFTER_MS, DEFAULT_SHARED_BUFFERS_MB } from "./db/pglite_client.ts";
import { normalizeAddress } from "./security/forwarded.ts";

export interface Config {
  /** HTTP port; 0 picks a free one (printed at start). */
  port: number;
  /** SQL door port overriding the site setting (0 picks a free one); unset follows the setting. */
  sqlDoorPort?: number;
  /** Threads serving the SQL door on its port (PostgreSQL only): each has its own backends. */
  sqlDoorThreads: number;
  /** Host name the HTTP server binds to. */
  hostname: string;
  /** PostgreSQL URL; unset means the embedded PGlite database in `dataDir`. */
  databaseUrl?: string;
  /** Seconds to keep trying an unreachable PostgreSQL server at start before giving up. */
  databaseWaitSeconds: number;
  dataDir: string;
  /**
   * Milliseconds the web side waits for the embedded database behind a
   * SQL-door statement or idle transaction before that is stopped.
   */
  embeddedPreemptMs: number;
  /** The embedded database's buffer cache, MB (LABGATE_EMBEDDED_SHARED_BUFFERS_MB). */
  embeddedSharedBuffersMb: number;
  /** Public base URL used in links shown to users (External Tool Access, emails). */
  baseUrl?: string;
  adminEmail?: string;
  adminPassword?: string;
  /** Minutes without a request after which a browser session ends. */
  sessionIdleMinutes: number;
  /** Hours after which a browser session ends however active it is. */
  sessionMaxHours: number;
  /** Mark cookies Secure even on plain HTTP (they always are on requests that came over TLS). */
  secureCookies: boolean;
  /** Reverse proxies whose X-Forwarded-For/-Proto are believed (exact addresses). */
  trustedProxies: ReadonlySet<string>;
  /** Largest request body accepted, in bytes (CSV imports included). */
  maxBodyBytes: number;
  /** What one CSV/TSV import may hold; beyond it nothing is imported (src/data/csv.ts). */
  importLimits: ImportLimits;
  /** PBKDF2 iterations for new password verifiers. */
  scramIterations: number;
  /** Failed logins allowed per account (and 4× per client address) in `loginWindowMinutes`. */
  loginFailureLimit: number;
  loginWindowMinutes: number;
  /** Write one JSON line per request to stdout. */
  logRequests: boolean;
  /** Lines below this level are not written. */
  logLevel: LogLevel;
  /** Who may read /metrics: nobody, loopback clients, or callers with the bearer token. */
  metrics: { access: "off" | "loopback" } | { access: "token"; token: string };
  /** PEM certificate and key files for the SQL door's TLS (main.ts reads them). */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Secret that encrypts stored private keys (AES-GCM); keys are stored in clear without it. */
  secretKey?: string;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new Error(`${name} must be true or false, got "${env[name]}"`);
}

function sqlDoorThreads(env: Env): number {
  const threads = integer(env, "LABGATE_SQL_DOOR_THREADS", 1, 1, 64);
  if (threads > 1 && !env.DATABASE_URL) {
    throw new Error(
      "LABGATE_SQL_DOOR_THREADS above 1 needs PostgreSQL (DATABASE_URL): the embedded database serves one thread",
    );
  }
  return threads;
}

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** Bounds on one CSV/TSV import (LABGATE_IMPORT_*). */
export interface ImportLimits {
  /** Bytes of the file. */
  maxBytes: number;
  /** Data rows of the file. */
  maxRows: number;
  /** Bytes of its header row: a runaway header is refused before it is parsed. */
  maxHeaderBytes: number;
}

const MB = 1024 * 1024;

/** A size limit as messages name it: `20 MB`, `64 KB`, `2048 bytes`. */
export function shownBytes(bytes: number): string {
  if (bytes >= MB) return `${Math.round((bytes / MB) * 10) / 10} MB`;
  return bytes >= 10 * 1024 ? `${Math.round(bytes / 1024)} KB` : `${bytes} bytes`;
}

export type LogLevel = typeof LOG_LEVELS[number];

function choice<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (!values.includes(raw as T)) {
    throw new Error(`${name} must be one of ${values.join(", ")}, got "${env[name]}"`);
  }
  return raw as T;
}

function metricsAccess(env: Env): Config["metrics"] {
  const access = choice(env, "LABGATE_METRICS", ["off", "loopback", "token"], "loopback");
  if (access !== "token") return { access };
  const token = env.LABGATE_METRICS_TOKEN ?? "";
  if (token.length < 16) {
    throw new Error("LABGATE_METRICS=token needs LABGATE_METRICS_TOKEN of at least 16 characters");
  }
  return { access, token };
}

function trustedProxies(env: Env): ReadonlySet<string> {
  const list = (env.LABGATE_TRUSTED_PROXIES ?? "").split(",").map((a) => a.trim()).filter(Boolean);
  for (const address of list) {
    if (!/^[0-9a-f.:]+$/i.test(address) || !address.includes(".") && !address.includes(":")) {
      throw new Error(
        `LABGATE_TRUSTED_PROXIES lists IP addresses separated by commas, got "${address}"`,
      );
    }
  }
  return new Set(list.map(normalizeAddress));
}

export function loadConfig(env: Env): Config {
  if (!env.LABGATE_TLS_CERT_FILE !== !env.LABGATE_TLS_KEY_FILE) {
    throw new Error("Set both LABGATE_TLS_CERT_FILE and LABGATE_TLS_KEY_FILE, or neither");
  }
  return {
    port: integer(env, "PORT", 8080, 0, 65535),
    sqlDoorPort: env.LABGATE_SQL_DOOR_PORT
      ? integer(env, "LABGATE_SQL_DOOR_PORT", 0, 0, 65535)
      : undefined,
    sqlDoorThreads: sqlDoorThreads(env),
    hostname: env.LABGATE_HOSTNAME || "0.0.0.0",
    databaseUrl: env.DATABASE_URL || undefined,
    databaseWaitSeconds: integer(env, "LABGATE_DATABASE_WAIT_SECONDS", 30, 0, 24 * 60 * 60),
    dataDir: env.LABGATE_DATA_DIR || "./data",
    embeddedPreemptMs: integer(
      env,
      "LABGATE_EMBEDDED_PREEMPT_MS",
      DEFAULT_PREEMPT_AFTER_MS,
      10,
      60_000,
    ),
    embeddedSharedBuffersMb: integer(
      env,
      "LABGATE_EMBEDDED_SHARED_BUFFERS_MB",
      DEFAULT_SHARED_BUFFERS_MB,
      1,
      16_384,
    ),
    baseUrl: env.LABGATE_BASE_URL || undefined,
    adminEmail: env.LABGATE_ADMIN_EMAIL || undefined,
    adminPassword: env.LABGATE_ADMIN_PASSWORD || undefined,
    sessionIdleMinutes: integer(env, "LABGATE_SESSION_IDLE_MINUTES", 30, 1, 60 * 24 * 30),
    sessionMaxHours: integer(env, "LABGATE_SESSION_MAX_HOURS", 12, 1, 24 * 365),
    secureCookies: flag(env, "LABGATE_SECURE_COOKIES", false),
    trustedProxies: trustedProxies(env),
    maxBodyBytes: integer(env, "LABGATE_MAX_BODY_BYTES", 20 * 1024 * 1024, 1024, 2 ** 31 - 1),
    importLimits: {
      maxBytes: integer(env, "LABGATE_IMPORT_MAX_BYTES", 20 * 1024 * 1024, 1024, 2 ** 31 - 1),
      maxRows: integer(env, "LABGATE_IMPORT_MAX_ROWS", 1_000_000, 1, 100_000_000),
      // A header of 500 columns (a list's most) named in 100 characters each fits.
      maxHeaderBytes: integer(
        env,
        "LABGATE_IMPORT_HEADER_BYTES",
        64 * 1024,
        256,
        16 * 1024 * 1024,
      ),
    },
    scramIterations: integer(env, "LABGATE_SCRAM_ITERATIONS", 4096, 4096, 10_000_000),
    loginFailureLimit: integer(env, "LABGATE_LOGIN_FAILURE_LIMIT", 5, 1, 1000),
    loginWindowMinutes: integer(env, "LABGATE_LOGIN_WINDOW_MINUTES", 15, 1, 24 * 60),
    logRequests: flag(env, "LABGATE_LOG_REQUESTS", true),
    logLevel: choice(env, "LABGATE_LOG_LEVEL", LOG_LEVELS, "info"),
    metrics: metricsAccess(env),
    tlsCertFile: env.LABGATE_TLS_CERT_FILE || undefined,
    tlsKeyFile: env.LABGATE_TLS_KEY_FILE || undefined,
    secretKey: env.LABGATE_SECRET_KEY || undefined,
  };
}
