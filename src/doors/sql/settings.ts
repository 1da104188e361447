/**
 * Site settings of the SQL door (section `sql_door`, admin page "External
 * Analytics Connections"): whether it accepts connections, where, and its
 * limits. Changes apply without a restart: the door listens to the settings
 * store and re-listens when the port changes.
 */
import { badRequest } from "../../errors.ts";
import { isLoopback } from "../../security/forwarded.ts";
import type { Services } from "../../services.ts";
import type { SettingsSection } from "../../settings.ts";

export interface SqlDoorSettings {
  /** Accept connections at all ("Allow connections"). */
  enabled: boolean;
  /** TCP port, 1–65535. */
  port: number;
  /** Host name shown to users instead of the server's own (no scheme, no port). */
  hostOverride: string | null;
  /** Refuse clients that do not upgrade to TLS (FATAL 28000). */
  requireTls: boolean;
  /** Let `apikey`/`token` logins send their secret without TLS from loopback addresses. */
  allowLoopbackCleartext: boolean;
  /** Client connections at once, all users together. */
  maxConnections: number;
  maxConnectionsPerUser: number;
  /** PostgreSQL sessions the door opens at most (PGlite has one). */
  backendConnections: number;
  /** A connection doing nothing for this long is closed. */
  idleTimeoutMinutes: number;
  /** A connection that keeps a transaction (or cursors) open and idle for this long is closed. */
  idleInTransactionSeconds: number;
  /**
   * Backends one user may hold at once across their clients' think time
   * (open transactions, WITH HOLD cursors, SQL PREPARE), so that one user
   * cannot take the whole pool; split evenly between door threads.
   */
  maxPinnedBackendsPerUser: number;
  /** How long a statement that would hold one backend too many waits for one of the user's own. */
  pinWaitSeconds: number;
  /** A connection that has not signed in this long after it was opened is closed. */
  startupTimeoutSeconds: number;
  /** Connections from one address that may be signing in at once. */
  maxUnauthenticatedPerAddress: number;
  /**
   * Statements running longer are canceled by the engine (57014); a user's
   * or an API key's own limit, set by an admin, takes its place.
   */
  statementTimeoutSeconds: number;
  /** Rows one statement may return through the door (54000 past it); 0 for no limit. */
  maxResultRows: number;
  /** Bytes of rows one statement may return through the door (54000 past it); 0 for no limit. */
  maxResultBytes: number;
  /** Statements one user's connections may run at once, across the door's threads. */
  maxStatementsPerUser: number;
  /** How long a statement past the user's limit waits for one of theirs to end (then 53300). */
  statementWaitSeconds: number;
}

const HOST =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const DEFAULTS: SqlDoorSettings = {
  enabled: true,
  port: 5435,
  hostOverride: null,
  requireTls: false,
  allowLoopbackCleartext: false,
  maxConnections: 500,
  maxConnectionsPerUser: 50,
  backendConnections: 20,
  idleTimeoutMinutes: 8 * 60,
  idleInTransactionSeconds: 60,
  // A quarter of the default pool.
  maxPinnedBackendsPerUser: 5,
  pinWaitSeconds: 5,
  // PostgreSQL's authentication_timeout is 1 minute; a sign-in through the door takes milliseconds.
  startupTimeoutSeconds: 10,
  maxUnauthenticatedPerAddress: 100,
  statementTimeoutSeconds: 30,
  maxResultRows: 10_000_000,
  maxResultBytes: 1024 * 1024 * 1024,
  // Half the default pool: one user's parallel jobs leave the other half to everyone else.
  maxStatementsPerUser: 10,
  statementWaitSeconds: 30,
};

/** A whole-number setting: its label (in messages and on the admin page) and range. */
interface SqlDoorLimit {
  label: string;
  min: number;
  max: number;
}

/** Whole-number limits: name, label for messages, and range. */
const LIMITS: [keyof SqlDoorSettings, string, number, number][] = [
  ["port", "Port", 1, 65535],
  ["maxConnections", "Connection limit", 1, 100_000],
  ["maxConnectionsPerUser", "Connection limit per user", 1, 10_000],
  ["backendConnections", "Backend connections", 1, 1000],
  ["idleTimeoutMinutes", "Idle timeout (minutes)", 1, 7 * 24 * 60],
  ["idleInTransactionSeconds", "Idle in transaction (seconds)", 1, 24 * 60 * 60],
  ["maxPinnedBackendsPerUser", "Backends one user may hold in transactions", 1, 1000],
  ["pinWaitSeconds", "Wait for a backend of one's own (seconds)", 0, 10 * 60],
  ["startupTimeoutSeconds", "Sign-in timeout (seconds)", 1, 10 * 60],
  ["maxUnauthenticatedPerAddress", "Connections signing in per address", 1, 100_000],
  ["statementTimeoutSeconds", "Statement timeout (seconds)", 1, 24 * 60 * 60],
  ["maxResultRows", "Rows per statement (0 for no limit)", 0, 1e12],
  ["maxResultBytes", "Result bytes per statement (0 for no limit)", 0, 2 ** 50],
  ["maxStatementsPerUser", "Statements one user may run at once", 1, 10_000],
  ["statementWaitSeconds", "Wait for one of one's own statements to end (seconds)", 0, 60 * 60],
];

/** The label and range of a whole-number setting, as `validate()` checks it. */
export function sqlDoorLimit(key: keyof SqlDoorSettings): SqlDoorLimit {
  const found = LIMITS.find(([name]) => name === key);
  if (!found) throw new Error(`${key} is not a whole-number setting of the SQL door`);
  const [, label, min, max] = found;
  return { label, min, max };
}

/** A refused value: the message, and which setting (`details.field`) so a form can mark it. */
function refused(field: keyof SqlDoorSettings, message: string) {
  return badRequest(message, { field });
}

function checkHost(raw: unknown): string | null {
  const host = typeof raw === "string" ? raw.trim() : "";
  if (!host) return null;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) || host.includes("/")) {
    throw refused(
      "hostOverride",
      "Host name must not include a scheme or a path, e.g. db.lab.example",
    );
  }
  if (/:\d+$/.test(host)) {
    throw refused("hostOverride", "Host name must not include a port: set Port instead");
  }
  if (!HOST.test(host) && !/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) {
    throw refused("hostOverride", `"${host}" is not a valid host name`);
  }
  return host;
}

export const sqlDoorSettings: SettingsSection<SqlDoorSettings> = {
  key: "sql_door",
  defaults: DEFAULTS,
  /** Checks a whole section; limits left out keep their defaults. */
  validate(value) {
    const v = (value ?? {}) as Partial<Record<keyof SqlDoorSettings, unknown>>;
    const checked = {
      ...DEFAULTS,
      enabled: v.enabled === true,
      hostOverride: checkHost(v.hostOverride),
      requireTls: v.requireTls === true,
      allowLoopbackCleartext: v.allowLoopbackCleartext === true,
    };
    for (const [key, label, min, max] of LIMITS) {
      const raw = v[key] ?? DEFAULTS[key];
      // A blank is no number (Number("") is 0, which turns the result limits off).
      const n = typeof raw === "string" && raw.trim() === "" ? NaN : Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) {
        throw refused(key, `${label} must be a whole number from ${min} to ${max}, got "${raw}"`);
      }
      (checked as Record<string, unknown>)[key] = n;
    }
    return checked;
  },
};

/**
 * The port clients should use: where this instance's door listens, else the
 * port LABGATE_SQL_DOOR_PORT sets, else the setting.
 */
export function sqlDoorPort(svc: Services, settings: SqlDoorSettings): number {
  return svc.sqlDoorListening.port ?? svc.config.sqlDoorPort ?? settings.port;
}

/**
 * The statement time limit of a caller, in milliseconds: their own (an API
 * key's, else the user's, set by an admin), else the site's. The SQL door
 * and the HTTP doors' heavy queries all use it.
 */
export function statementTimeoutMs(
  settings: Pick<SqlDoorSettings, "statementTimeoutSeconds">,
  own: { statementTimeoutSeconds?: number | null },
): number {
  return (own.statementTimeoutSeconds ?? settings.statementTimeoutSeconds) * 1000;
}

/**
 * Whether a secret (an API key, session key or auth token sent as a SQL door
 * password) may come over this connection: inside TLS always; without TLS
 * only from a loopback address, and only when the admin allows it. The one
 * place this rule is decided (wire/auth.ts asks before any door sees the
 * secret).
 */
export function secretTransportAllowed(
  settings: Pick<SqlDoorSettings, "allowLoopbackCleartext">,
  connection: { tls: boolean; clientAddr: string | null },
): boolean {
  return connection.tls ||
    (settings.allowLoopbackCleartext && isLoopback(connection.clientAddr));
}
