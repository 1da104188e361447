/**
 * The startup phase of a connection, after the StartupMessage: protocol
 * version, TLS requirement, authentication (auth.ts), the folder named as
 * the database, admission against the door's caps, the folder scope, a
 * first lease that applies the startup settings, the login's audit entry,
 * and the ParameterStatus, BackendKeyData and ReadyForQuery that end it.
 */
import { getContainerByPath } from "../src/data/containers.ts";
import { Permission } from "../src/security/permissions.ts";
import { authenticate } from "./auth.ts";
import { concat } from "./protocol/bytes.ts";
import { fatal, SqlState, WireError } from "./protocol/errors.ts";
import { AuthCode, TxStatus } from "./protocol/message_codes.ts";
import {
  authentication,
  backendKeyData,
  negotiateProtocolVersion,
  parameterStatus,
  readyForQuery,
} from "./protocol/messages.ts";
import { ShownNames } from "./column_names.ts";
import { LoginWatch } from "./revocation.ts";
import { folderScope, sessionResetSql, sessionSetupSql, shownServerVersion } from "./sandbox.ts";
import { acquire, capture, maybeRelease } from "./session_leases.ts";
import { auditUnavailable, type DoorSession, type SessionState } from "./session_state.ts";

const MAX_MESSAGE_LENGTH = 64 * 1024 * 1024;

/** Startup parameters applied as session settings (lower-case name → setting name). */
const STARTUP_SETTINGS: Record<string, string> = {
  application_name: "application_name",
  client_encoding: "client_encoding",
  datestyle: "DateStyle",
  intervalstyle: "IntervalStyle",
  timezone: "TimeZone",
  extra_float_digits: "extra_float_digits",
  bytea_output: "bytea_output",
};

/** The client's next message during authentication. */
async function receive(s: SessionState): Promise<Uint8Array> {
  for (;;) {
    const message = s.buffer.next();
    if (message) return message;
    const chunk = await s.transport.read();
    if (!chunk) {
      throw fatal(SqlState.ConnectionFailure, "Client closed the connection during login");
    }
    s.buffer.push(chunk);
  }
}

/**
 * Signs the client in, up to its first ReadyForQuery; throws a FATAL
 * WireError when it may not. `session` is the connection the door counts
 * and revocations watch.
 */
export async function signIn(s: SessionState, session: DoorSession): Promise<void> {
  const { params, minor, clientAddr } = s.startup;
  const { svc } = s.ctx;
  const settings = s.ctx.settings();
  if (minor > 0) {
    const unknown = [...params.keys()].filter((name) => name.startsWith("_pq_."));
    s.transport.write(negotiateProtocolVersion(0, unknown));
  }
  if (settings.requireTls && !s.transport.tls) {
    throw fatal(
      SqlState.InvalidAuthorization,
      "This SQL door requires TLS: connect with sslmode=require (or verify-full)",
    );
  }
  const replication = params.get("replication");
  if (replication && replication !== "false" && replication !== "0") {
    throw fatal(
      SqlState.FeatureNotSupported,
      "Replication connections are not supported by the SQL door",
    );
  }
  const name = params.get("user") ?? "";
  // A change made while the login runs is checked before the first statement.
  const since = s.ctx.revocations.generation;
  s.auth = await authenticate(svc, {
    send: (bytes) => s.transport.write(bytes),
    receive: () => receive(s),
  }, {
    name,
    tls: s.transport.tls,
    clientAddr,
    settings,
  });
  const user = s.auth.user;
  s.transport.write(authentication(AuthCode.Ok));
  s.buffer.maxLength = MAX_MESSAGE_LENGTH;

  const database = params.get("database") || name;
  const container = await getContainerByPath(svc, database);
  const bits = container ? await svc.permissions.resolve(user.id, container.id) : 0;
  if (!container || !(bits & Permission.READ)) {
    throw fatal(SqlState.InvalidCatalogName, `database "${database}" does not exist`, {
      hint: "The database name is the path of a folder you can read, e.g. /home",
    });
  }
  // Ended meanwhile (the sign-in deadline): it must not be counted against the caps.
  if (s.closed) return;
  const admitted = s.ctx.admit(session, user.id);
  if (admitted instanceof WireError) throw admitted;
  s.pid = admitted.pid;
  s.secret = admitted.secret;
  s.userId = user.id;

  s.scope = await folderScope(svc, user, container, settings, s.auth);
  s.shownNames = new ShownNames(s.scope.shownColumns);
  const setupSql = sessionSetupSql(s.scope);
  s.setup = {
    key: s.ctx.scopeKey(setupSql),
    setupSql,
    resetSql: sessionResetSql(),
    statementTimeoutMs: s.scope.statementTimeoutMs,
  };
  s.auditBase = {
    door: "sql",
    event: "sql.query",
    userId: user.id,
    userEmail: user.email,
    credential: s.auth.credential,
    // As every door's entries: the declarations and the PHI level in force.
    compliance: { ...s.auth.compliance, phiLevelInForce: s.auth.phiLevel },
    containerId: container.id,
    containerPath: container.path,
    clientAddr,
  };
  s.settings = startupSettings(s, params);
  await hello(s);
  if (s.closed) return;
  s.watch = new LoginWatch({
    userId: user.id,
    credential: s.auth.credential,
    containerId: container.id,
    containerPath: container.path,
    verifier: user.password_verifier,
    appUser: user.user_type === "app",
    phiLevel: s.auth.phiLevel,
  });
  s.ctx.revocations.watch(session, since);
  await svc.audit.recordDurably({ ...s.auditBase, event: "login", outcome: "ok" })
    .catch((failure) => {
      const error = auditUnavailable(failure);
      const { message } = error;
      svc.audit.record({ ...s.auditBase, event: "login", outcome: "error", message });
      throw error;
    });

  const reported = s.reported();
  const constant: [string, string][] = [
    ["default_transaction_read_only", "on"],
    ["in_hot_standby", "off"],
    ["integer_datetimes", "on"],
    ["is_superuser", "off"],
    ["server_encoding", "UTF8"],
    ["server_version", shownServerVersion(s.ctx.info.serverVersion)],
    ["session_authorization", user.email],
  ];
  const parameters = [...reported, ...constant].sort(([a], [b]) => a.localeCompare(b));
  s.transport.write(concat([
    ...parameters.map(([key, value]) => parameterStatus(key, value)),
    backendKeyData(s.pid, s.secret),
    readyForQuery(TxStatus.Idle),
  ]));
  s.ready = true;
  s.startup.signedIn();
  s.lastActivity = performance.now();
}

/** The startup parameters that differ from the backend's neutral values, as session settings. */
function startupSettings(s: SessionState, params: Map<string, string>): Map<string, string> {
  const settings = new Map<string, string>();
  for (const [key, value] of params) {
    const name = STARTUP_SETTINGS[key.toLowerCase()];
    if (!name) continue;
    if (name === "client_encoding") {
      const encoding = value.toUpperCase().replace(/[-_]/g, "");
      if (encoding === "UTF8" || encoding === "UNICODE") continue;
      if (encoding !== "SQLASCII") {
        throw fatal(
          SqlState.InvalidParameterValue,
          `Client encoding "${value}" is not supported: use UTF8`,
        );
      }
    }
    if (s.ctx.info.settings.get(name) !== value) settings.set(name, value);
  }
  return settings;
}

/**
 * A first lease at login: proves the folder's session can be set up, and
 * applies and normalizes startup settings (a bad one fails the login, as
 * in PostgreSQL).
 */
async function hello(s: SessionState): Promise<void> {
  // Taken up and written to in one turn (see acquire()).
  for (let waiting = acquire(s); waiting; waiting = acquire(s)) await waiting;
  if (s.settings.size || s.inFlight > 0) {
    await new Promise<void>((resolve) => capture(s, null, resolve));
  }
  maybeRelease(s);
  if (s.startupError) throw fatal(SqlState.InvalidParameterValue, s.startupError);
}
