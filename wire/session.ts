/**
 * One client connection of the SQL door, after startup negotiation:
 * authentication, then the query loop. Client messages are checked and
 * rewritten one by one (a handler per frontend message) and forwarded to a
 * leased backend; the pipeline (pipeline.ts) orders the replies. The
 * session holds the client's own state between leases: its prepared
 * statements, portals and settings, replayed on whichever backend it gets.
 */
import type { AuditRecord } from "../src/audit/mod.ts";
import { getContainerByPath } from "../src/data/containers.ts";
import { DATABASE_UNAVAILABLE, isDatabaseUnavailable } from "../src/errors.ts";
import { Permission } from "../src/security/permissions.ts";
import type { Services } from "../src/services.ts";
import type { SqlDoorSettings } from "../src/doors/sql/settings.ts";
import { authenticate, type Authenticated } from "./auth.ts";
import { concat, decodeText, equalBytes, ProtocolError, Writer } from "./protocol/bytes.ts";
import {
  CAPTURE_SQL,
  capturedSettings,
  type Engine,
  type EngineInfo,
  type Lease,
  REPORTED_SETTINGS,
  type ScopeSetup,
} from "./backend/mod.ts";
import { ErrorField, fatal, SqlState, WireError } from "./protocol/errors.ts";
import type { MessageBuffer } from "./protocol/message_buffer.ts";
import { AuthCode, FrontendCode, TxStatus } from "./protocol/message_codes.ts";
import {
  authentication,
  backendKeyData,
  bindText,
  CLOSE_COMPLETE,
  errorResponse,
  execute,
  negotiateProtocolVersion,
  parameterStatus,
  parse,
  PARSE_COMPLETE,
  query,
  readBind,
  readExecute,
  readParse,
  readQuery,
  readTarget,
  readyForQuery,
  rebind,
  SYNC,
  target,
} from "./protocol/messages.ts";
import { ShownNames } from "./column_names.ts";
import { type Audit, Pipeline, type PipelineHost } from "./pipeline.ts";
import {
  type Analysis,
  analyze,
  catalogContextSql,
  type FolderScope,
  folderScope,
  hidePhysicalNames,
  sessionResetSql,
  sessionSetupSql,
  shownServerVersion,
  type SqlRefusal,
  type StatementInfo,
} from "./sandbox.ts";
import type { PinShares } from "./pin_shares.ts";
import { LoginWatch, type Revocations, type Watched } from "./revocation.ts";
import type { StatementTimes } from "./statement_times.ts";
import type { Transport } from "./protocol/transport.ts";

/** What sessions share: provided by the door. */
export interface DoorContext {
  readonly svc: Services;
  readonly engine: Engine;
  readonly info: EngineInfo;
  readonly statementTimes: StatementTimes;
  /** How many backends each user holds across think time (open transactions). */
  readonly pins: PinShares;
  /** How many statements each user runs at once. */
  readonly statements: PinShares;
  /** Changes that take access away, applied to open connections. */
  readonly revocations: Revocations;
  settings(): SqlDoorSettings;
  /** Longest a lease may sit idle (PGlite: everyone else waits meanwhile). */
  readonly maxIdleLeaseMs: number;
  /** A short key for setup SQL: equal SQL, equal key. */
  scopeKey(setupSql: string): string;
  /** Counts the session against the caps and gives it cancel keys, or says why not. */
  admit(session: Session, userId: number): { pid: number; secret: number } | WireError;
  leave(session: Session): void;
  log(message: string): void;
}

/** What the listener learned before the StartupMessage was read. */
export interface StartupInfo {
  params: Map<string, string>;
  /** Protocol minor version the client asked for (3.x). */
  minor: number;
  buffer: MessageBuffer;
  clientAddr: string | null;
  loopback: boolean;
  /** Called at the first ReadyForQuery: the sign-in deadline no longer applies. */
  signedIn(): void;
}

/** A statement the client prepared (or the unnamed one). */
interface ClientStatement {
  name: string;
  /** As the client wrote it: for the audit log. */
  text: string;
  /** As the backend runs it. */
  sql: string;
  paramTypes: Uint8Array;
  /** Its analysis (shared by texts differing only in numbers). */
  statements: StatementInfo[];
  /** Identifies the backend statement: scope, SQL and parameter types. */
  key: string;
  positionMap: (pos: number) => number;
  /** The lists withheld (PHI) when it was analysed: a change means analysing it again. */
  withheld: FolderScope["withheldTables"];
}

const MAX_MESSAGE_LENGTH = 64 * 1024 * 1024;
const NO_TYPES = new Uint8Array(2);
/** Makes the backend fail where the door refused, so transaction and batch state follow PostgreSQL. */
const POISON = "lg_refused";
const POISON_QUERY = query(POISON);
const POISON_PARSE = parse("", POISON, NO_TYPES);
const CAPTURE_QUERY = query(CAPTURE_SQL);
const SET_CONFIG_PARSE = parse("", "select pg_catalog.set_config($1, $2, false)", NO_TYPES);
const EXECUTE_UNNAMED = execute("");
const UNNAMED_PORTAL = { kind: 0x50, name: "" };
const COPY_FAIL = new Writer().begin(FrontendCode.CopyFail)
  .str("COPY FROM STDIN is not allowed through the SQL door").end().take();

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

/** A statement to audit once it has run, from now. */
function newAudit(text: string, shape?: object): Audit {
  return { text, shape, started: performance.now(), rows: 0, outcome: "ok" };
}

function refusalError(refusal: SqlRefusal): WireError {
  return new WireError(refusal.code, refusal.message, refusal);
}

/**
 * The one setting of the scope setup a client may change (the sandbox lets
 * it lower the statement timeout): kept and replayed like the client's own.
 */
const CLIENT_LOWERED = "statement_timeout";

/** Session settings to change on a backend that has `current` so it has `wanted` (null resets). */
function settingsDiff(
  current: Map<string, string>,
  wanted: Map<string, string>,
): [string, string | null][] {
  const changes: [string, string | null][] = [];
  for (const [name, value] of wanted) if (current.get(name) !== value) changes.push([name, value]);
  for (const name of current.keys()) if (!wanted.has(name)) changes.push([name, null]);
  return changes;
}

/** The parameter types' bytes as a string (one character per byte), for cache keys. */
function typesKey(paramTypes: Uint8Array): string {
  let key = "";
  for (let at = 0; at < paramTypes.length; at += 4096) {
    key += String.fromCharCode.apply(
      null,
      paramTypes.subarray(at, at + 4096) as unknown as number[],
    );
  }
  return key;
}

export class Session implements Watched {
  readonly #ctx: DoorContext;
  readonly #transport: Transport;
  readonly #startup: StartupInfo;
  readonly #buffer: MessageBuffer;
  lastActivity = performance.now();
  pid = 0;
  secret = 0;
  userId: number | null = null;
  ready = false;
  closed = false;

  #auth!: Authenticated;
  /** What the login rests on: set once signed in, read before every message. */
  watch!: LoginWatch;
  /** The leased backend still has the catalog of folders the client may no longer read. */
  #narrowedOnLease = false;
  #scope!: FolderScope;
  /** Renames result columns to the names their lists define (see column_names.ts). */
  #shownNames: ShownNames | null = null;
  #setup!: ScopeSetup;
  #auditBase!: Omit<AuditRecord, "outcome" | "detail" | "rows" | "durationMs">;

  readonly #statements = new Map<string, ClientStatement>();
  /** The last Parse the sandbox allowed, as sent, and its statement. */
  #lastParse: { message: Uint8Array; statement: ClientStatement } | null = null;
  readonly #portals = new Map<string, ClientStatement>();
  /** The client's own session settings (beyond the scope's setup), as the backend reports them. */
  #settings = new Map<string, string>();
  #settingsDirty = false;
  #holdCursors = false;
  #pinned = false;
  /** Holds one of the user's pinned shares (see pin_shares.ts). */
  #pinShare = false;
  /** Holds one of the user's running-statement shares: from a Query or Execute to no replies due. */
  #statementShare = false;
  /** No share came in time: the next Query or Execute is refused with this. */
  #statementRefusal: WireError | null = null;
  /** A Query analysed before its lease came (to know whether it takes a share), for Query(). */
  #queryAnalysis: { message: Uint8Array; text: string; analysis: Analysis } | null = null;
  /** A setting the setup owns changed: the backend must not be reused as is. */
  #tampered = false;
  #startupError: string | null = null;

  #lease: Lease | null = null;
  /** A lease that came after a wait, for the next dispatch to take up. */
  #arrived: Lease | null = null;
  /** Extended-protocol messages were written since the last Sync. */
  #unsynced = false;
  /** What was written since the last flush may share the backend with other clients. */
  #shareable = true;
  /** Called when the lease is given back (a client waiting to write elsewhere). */
  #onRelease: (() => void)[] = [];
  /** Waiting for a backend; a cancel request aborts the wait through #abort. */
  #acquiring = false;
  #abort: AbortController | null = null;
  readonly #pipeline: Pipeline;

  constructor(ctx: DoorContext, transport: Transport, startup: StartupInfo) {
    this.#ctx = ctx;
    this.#transport = transport;
    this.#startup = startup;
    this.#buffer = startup.buffer;
    const host: PipelineHost = {
      hide: (text) => this.#hide(text),
      record: (audit) => this.#record(audit),
      holdsReady: (status) =>
        status === TxStatus.Idle && (this.#settingsDirty || this.#holdCursors),
      capture: (rfq) => this.#capture(rfq),
      idle: () => this.#maybeRelease(),
      copyIn: () => {
        this.#lease?.write(COPY_FAIL);
        this.#lease?.flush();
      },
      fail: (error) => this.#fail(error),
      resultLimits: () => {
        const { maxResultRows, maxResultBytes } = this.#ctx.settings();
        return { rows: maxResultRows, bytes: maxResultBytes };
      },
      cancelStatement: () => this.#lease?.cancel(),
      rowDescription: (frame) => this.#shownNames?.rename(frame) ?? null,
    };
    this.#pipeline = new Pipeline(host, transport);
  }

  get #inFlight(): number {
    return this.#pipeline.inFlight;
  }

  /** Serves the connection until it ends. */
  async run(): Promise<void> {
    try {
      await this.#begin();
      await this.#serve();
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#cleanup();
    }
  }

  #fail(error: unknown): void {
    if (this.closed) return;
    let reply: WireError;
    if (error instanceof WireError) reply = error;
    else if (error instanceof ProtocolError) {
      reply = fatal(SqlState.ProtocolViolation, error.message);
    } else if (isDatabaseUnavailable(error)) {
      reply = fatal(SqlState.ConnectionFailure, DATABASE_UNAVAILABLE);
    } else {
      this.#ctx.log(
        `SQL door: connection ended by an internal error: ${(error as Error)?.stack ?? error}`,
      );
      reply = fatal(SqlState.InternalError, "Internal error in the SQL door: reconnect and retry");
    }
    this.#terminate(reply);
  }

  /** Sends a FATAL error and ends the connection. */
  #terminate(error: WireError): void {
    if (this.closed) return;
    this.#pipeline.emit(
      errorResponse(
        new WireError(error.code, this.#scope ? this.#hide(error.message) : error.message, {
          severity: "FATAL",
          detail: error.detail,
          hint: error.hint,
        }),
      ),
    );
    this.#pipeline.flush();
    this.#cleanup();
  }

  // ---- startup ----

  /** The client's next message during authentication. */
  async #receive(): Promise<Uint8Array> {
    for (;;) {
      const message = this.#buffer.next();
      if (message) return message;
      const chunk = await this.#transport.read();
      if (!chunk) {
        throw fatal(SqlState.ConnectionFailure, "Client closed the connection during login");
      }
      this.#buffer.push(chunk);
    }
  }

  async #begin(): Promise<void> {
    const { params, minor, clientAddr, loopback } = this.#startup;
    const { svc } = this.#ctx;
    const settings = this.#ctx.settings();
    if (minor > 0) {
      const unknown = [...params.keys()].filter((name) => name.startsWith("_pq_."));
      this.#transport.write(negotiateProtocolVersion(0, unknown));
    }
    if (settings.requireTls && !this.#transport.tls) {
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
    const since = this.#ctx.revocations.generation;
    this.#auth = await authenticate(svc, {
      send: (bytes) => this.#transport.write(bytes),
      receive: () => this.#receive(),
    }, {
      name,
      tls: this.#transport.tls,
      clientAddr,
      cleartextAllowed: loopback && settings.allowLoopbackCleartext,
    });
    const user = this.#auth.user;
    this.#transport.write(authentication(AuthCode.Ok));
    this.#buffer.maxLength = MAX_MESSAGE_LENGTH;

    const database = params.get("database") || name;
    const container = await getContainerByPath(svc, database);
    const bits = container ? await svc.permissions.resolve(user.id, container.id) : 0;
    if (!container || !(bits & Permission.READ)) {
      throw fatal(SqlState.InvalidCatalogName, `database "${database}" does not exist`, {
        hint: "The database name is the path of a folder you can read, e.g. /home",
      });
    }
    // Ended meanwhile (the sign-in deadline): it must not be counted against the caps.
    if (this.closed) return;
    const admitted = this.#ctx.admit(this, user.id);
    if (admitted instanceof WireError) throw admitted;
    this.pid = admitted.pid;
    this.secret = admitted.secret;
    this.userId = user.id;

    this.#scope = await folderScope(svc, user, container, settings, this.#auth);
    this.#shownNames = new ShownNames(this.#scope.shownColumns);
    const setupSql = sessionSetupSql(this.#scope);
    this.#setup = {
      key: this.#ctx.scopeKey(setupSql),
      setupSql,
      resetSql: sessionResetSql(),
      statementTimeoutMs: this.#scope.statementTimeoutMs,
    };
    this.#auditBase = {
      door: "sql",
      event: "sql.query",
      userId: user.id,
      userEmail: user.email,
      credential: this.#auth.credential,
      // As every door's entries: the declarations and the PHI level in force.
      compliance: { ...this.#auth.compliance, phiLevelInForce: this.#auth.phiLevel },
      containerId: container.id,
      containerPath: container.path,
      clientAddr,
    };
    this.#settings = this.#startupSettings(params);
    await this.#hello();
    if (this.closed) return;
    this.watch = new LoginWatch({
      userId: user.id,
      credential: this.#auth.credential,
      containerId: container.id,
      containerPath: container.path,
      verifier: user.password_verifier,
      appUser: user.user_type === "app",
      phiLevel: this.#auth.phiLevel,
    });
    this.#ctx.revocations.watch(this, since);
    await svc.audit.recordDurably({ ...this.#auditBase, event: "login", outcome: "ok" })
      .catch((failure) => {
        const error = auditUnavailable(failure);
        const { message } = error;
        svc.audit.record({ ...this.#auditBase, event: "login", outcome: "error", message });
        throw error;
      });

    const reported = this.#reported();
    const constant: [string, string][] = [
      ["default_transaction_read_only", "on"],
      ["in_hot_standby", "off"],
      ["integer_datetimes", "on"],
      ["is_superuser", "off"],
      ["server_encoding", "UTF8"],
      ["server_version", shownServerVersion(this.#ctx.info.serverVersion)],
      ["session_authorization", user.email],
    ];
    const parameters = [...reported, ...constant].sort(([a], [b]) => a.localeCompare(b));
    this.#transport.write(concat([
      ...parameters.map(([key, value]) => parameterStatus(key, value)),
      backendKeyData(this.pid, this.secret),
      readyForQuery(TxStatus.Idle),
    ]));
    this.ready = true;
    this.#startup.signedIn();
    this.lastActivity = performance.now();
  }

  #startupSettings(params: Map<string, string>): Map<string, string> {
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
      if (this.#ctx.info.settings.get(name) !== value) settings.set(name, value);
    }
    return settings;
  }

  /**
   * A first lease at login: proves the folder's session can be set up, and
   * applies and normalizes startup settings (a bad one fails the login, as
   * in PostgreSQL).
   */
  async #hello(): Promise<void> {
    // Taken up and written to in one turn (see #acquire).
    for (let waiting = this.#acquire(); waiting; waiting = this.#acquire()) await waiting;
    if (this.#settings.size || this.#inFlight > 0) {
      await new Promise<void>((resolve) => this.#capture(null, resolve));
    }
    this.#maybeRelease();
    if (this.#startupError) throw fatal(SqlState.InvalidParameterValue, this.#startupError);
  }

  #reported(): Map<string, string> {
    return new Map(REPORTED_SETTINGS.map((name) => [
      name,
      this.#settings.get(name) ?? this.#ctx.info.settings.get(name) ?? "",
    ]));
  }

  // ---- the query loop ----

  async #serve(): Promise<void> {
    for (;;) {
      let message: Uint8Array | null;
      while (!this.closed && (message = this.#buffer.next())) {
        // A message that must wait for a backend is dispatched again once it may go on, so
        // everything written to a backend is flushed in the same turn it was written.
        for (let wait = this.#dispatch(message); wait; wait = this.#dispatch(message)) {
          this.#flush();
          if (!(await wait) || this.closed) break;
        }
      }
      if (this.closed) return;
      this.#flush();
      const chunk = await this.#transport.read();
      if (!chunk) return;
      this.lastActivity = performance.now();
      this.#buffer.push(chunk);
    }
  }

  /** Sends what was written to the backend, and the door's own answers to the client. */
  #flush(): void {
    const lease = this.#lease;
    if (lease) {
      lease.flush(
        this.#shareable && !this.#unsynced && !this.#settingsDirty && !this.#holdCursors &&
          !this.#pinned && !this.#tampered && this.#pipeline.status === TxStatus.Idle,
      );
    }
    this.#shareable = true;
    // With replies due, the door's own answers go out with them in one write.
    if (this.#inFlight === 0) this.#pipeline.flush();
  }

  /**
   * One dispatch on the frontend message type. A promise means the message
   * waits: true once it is to be dispatched again, false when it was
   * answered meanwhile (no backend could be had).
   */
  #dispatch(message: Uint8Array): void | Promise<boolean> {
    const code = message[0];
    if (code === FrontendCode.Terminate) return this.#cleanup();
    if (this.#ctx.svc.audit.failing) throw auditUnavailable(this.#ctx.svc.audit.failure);
    if (this.#pipeline.discarding && code !== FrontendCode.Sync) return;
    if (this.#lease && !this.#lease.writable) {
      // Another client holds this backend alone now: once our replies are in, lease another.
      if (this.#inFlight === 0) this.#maybeRelease();
      if (this.#lease) return new Promise((resolve) => this.#onRelease.push(() => resolve(true)));
    }
    if (this.watch.stale) {
      const settling = this.#settle();
      if (settling) return settling;
    }
    switch (code) {
      case FrontendCode.Sync:
        this.#unsynced = false;
        return this.Sync(message);
      case FrontendCode.Flush:
        this.#unsynced = true;
        return this.#lease?.write(message);
      case FrontendCode.CopyData:
      case FrontendCode.CopyDone:
      case FrontendCode.CopyFail:
        return; // outside COPY FROM STDIN, which the door never starts, PostgreSQL ignores them too
    }
    if (code === FrontendCode.Close && message[5] === 0x53) return this.Close(message);
    if (code === FrontendCode.Query || code === FrontendCode.Execute) {
      const waiting = this.#takeStatementShare();
      if (waiting) return waiting.then(() => true);
    }
    if (!this.#lease) {
      const waiting = this.#takeShare(code, message) ?? this.#acquire();
      if (waiting) {
        return waiting.then(
          () => true,
          (error) => {
            this.#acquireFailed(code, error);
            return false;
          },
        );
      }
    }
    return this.#handle(code, message);
  }

  #handle(code: number, message: Uint8Array): void {
    if (code !== FrontendCode.Query) this.#unsynced = true;
    switch (code) {
      case FrontendCode.Query:
        return this.Query(message);
      case FrontendCode.Parse:
        return this.Parse(message);
      case FrontendCode.Bind:
        return this.Bind(message);
      case FrontendCode.Describe:
        return this.Describe(message);
      case FrontendCode.Execute:
        return this.Execute(message);
      case FrontendCode.Close:
        return this.Close(message);
      case FrontendCode.FunctionCall:
        return this.#refuse(
          FrontendCode.Query,
          new WireError(
            SqlState.FeatureNotSupported,
            "The function call protocol is not supported: use SELECT",
          ),
        );
      default:
        throw new ProtocolError(`Invalid frontend message type "${String.fromCharCode(code)}"`);
    }
  }

  #acquireFailed(code: number, error: unknown): void {
    if (!(error instanceof WireError) || error.severity === "FATAL") throw error;
    this.#giveShare();
    if (this.#inFlight === 0) this.#giveStatementShare();
    this.#pipeline.emit(errorResponse(error));
    if (code === FrontendCode.Query || code === FrontendCode.FunctionCall) {
      this.#pipeline.emit(readyForQuery(this.#pipeline.status));
    } else this.#pipeline.discarding = true;
  }

  // ---- frontend message handlers ----

  Query(message: Uint8Array): void {
    const { text, analysis } = this.#analyzeQuery(message);
    this.#queryAnalysis = null;
    const audit = newAudit(text);
    const busy = this.#takeStatementRefusal();
    if (busy) return this.#refuse(FrontendCode.Query, busy, audit);
    if (!analysis.ok) {
      return this.#refuse(FrontendCode.Query, refusalError(analysis.refusal), audit);
    }
    const lease = this.#lease!;
    this.#note(analysis.statements);
    // After an unsynced extended message an error would make the backend skip this Query.
    if (this.#unsynced || !this.#ctx.statementTimes.quick(analysis.statements)) {
      this.#shareable = false;
    }
    audit.shape = analysis.statements;
    const dropped = this.#deallocate(lease, analysis.statements);
    lease.state.unnamedKey = null; // a simple Query drops the unnamed statement
    this.#pipeline.push({
      code: FrontendCode.Query,
      audit,
      positionMap: analysis.positionMap,
      // An earlier statement failed, so the DEALLOCATE most likely did not run: the client keeps them.
      onError: dropped.length
        ? () => {
          for (const statement of dropped) {
            if (!this.#statements.has(statement.name)) {
              this.#statements.set(statement.name, statement);
            }
          }
        }
        : undefined,
    });
    lease.write(analysis.text === text ? message : query(analysis.text));
  }

  Parse(message: Uint8Array): void {
    const last = this.#lastParse;
    if (last && equalBytes(last.message, message)) {
      return this.#parse(message, { ...last.statement });
    }
    const { name, text, paramTypes } = readParse(message);
    if (name.startsWith("lg_")) {
      return this.#refuse(
        FrontendCode.Parse,
        new WireError(
          SqlState.InsufficientPrivilege,
          `Prepared statement names starting with lg_ are reserved: rename "${name}"`,
        ),
      );
    }
    const analysis = analyze(text, this.#scope);
    if (!analysis.ok) {
      return this.#refuse(FrontendCode.Parse, refusalError(analysis.refusal), newAudit(text));
    }
    const statement: ClientStatement = {
      name,
      text,
      sql: analysis.text,
      // A copy: the message is a view into a read buffer, which this must not keep alive.
      paramTypes: paramTypes.slice(),
      statements: analysis.statements,
      key: `${this.#setup.key}\0${analysis.text}\0${typesKey(paramTypes)}`,
      positionMap: analysis.positionMap,
      withheld: this.#scope.withheldTables,
    };
    this.#lastParse = { message: message.slice(), statement };
    this.#parse(message, { ...statement });
  }

  /**
   * A Parse the sandbox allowed. A client repeating its last Parse (most
   * drivers, for every unnamed statement) gets a copy of the same statement,
   * so the text is neither decoded nor analysed again and the cache keys
   * are the same strings, whose hashes are already known.
   */
  #parse(message: Uint8Array, statement: ClientStatement): void {
    const { name } = statement;
    if (name && this.#statements.has(name)) {
      return this.#refuse(
        FrontendCode.Parse,
        new WireError(
          SqlState.DuplicatePreparedStatement,
          `Prepared statement "${name}" already exists`,
        ),
      );
    }
    this.#note(statement.statements);
    const lease = this.#lease!;
    const state = lease.state;
    this.#statements.set(name, statement);
    const forget = () => {
      if (this.#statements.get(name) === statement) this.#statements.delete(name);
    };
    const positionMap = statement.positionMap;
    if (name === "") {
      // The same SQL is in the backend's unnamed slot already: skip parsing it there again.
      if (state.unnamedKey === statement.key && state.unnamedReady) {
        return this.#pipeline.local(PARSE_COMPLETE, forget);
      }
      this.#pipeline.push({
        code: FrontendCode.Parse,
        positionMap,
        audit: newAudit(statement.text),
        onDone: state.parsingUnnamed(statement.key),
        onError: () => {
          state.unnamedKey = null;
          forget();
        },
      });
      lease.write(
        statement.sql === statement.text ? message : parse("", statement.sql, statement.paramTypes),
      );
      return;
    }
    if (state.statements.get(statement.key) !== undefined) {
      return this.#pipeline.local(PARSE_COMPLETE, forget);
    }
    const backendName = state.statements.add(statement.key);
    this.#pipeline.push({
      code: FrontendCode.Parse,
      positionMap,
      audit: newAudit(statement.text),
      onError: () => {
        state.statements.delete(statement.key);
        forget();
      },
    });
    lease.write(parse(backendName, statement.sql, statement.paramTypes));
  }

  Bind(message: Uint8Array): void {
    // The unnamed portal of the unnamed statement, as most drivers bind: no names to read.
    const bind = message[5] === 0 && message[6] === 0 ? null : readBind(message);
    const name = bind?.statement ?? "";
    const statement = this.#statements.get(name);
    if (!statement) return this.#refuse(FrontendCode.Parse, missingStatement(name));
    const withheld = this.#withheldSince(statement);
    if (withheld) return this.#refuse(FrontendCode.Bind, withheld, newAudit(statement.text));
    const lease = this.#lease!;
    const backendName = this.#prepare(lease, statement);
    this.#portals.set(bind?.portal.length ? decodeText(bind.portal) : "", statement);
    this.#pipeline.push({ code: FrontendCode.Bind, positionMap: statement.positionMap });
    lease.write(backendName === name ? message : rebind(bind!, backendName));
  }

  Describe(message: Uint8Array): void {
    const lease = this.#lease!;
    // The unnamed portal, as most drivers describe: nothing to read.
    const { kind, name } = message.length === 7 && message[5] === 0x50 && message[6] === 0
      ? UNNAMED_PORTAL
      : readTarget(message);
    if (kind === 0x50) {
      this.#pipeline.push({ code: FrontendCode.Describe });
      return lease.write(message);
    }
    const statement = this.#statements.get(name);
    if (!statement) return this.#refuse(FrontendCode.Parse, missingStatement(name));
    const withheld = this.#withheldSince(statement);
    if (withheld) return this.#refuse(FrontendCode.Describe, withheld, newAudit(statement.text));
    const backendName = this.#prepare(lease, statement);
    this.#pipeline.push({ code: FrontendCode.Describe });
    lease.write(backendName === name ? message : target(FrontendCode.Describe, "S", backendName));
  }

  Execute(message: Uint8Array): void {
    const portal = message[5] === 0 && message.length === 10 ? "" : readExecute(message).portal;
    const statement = this.#portals.get(portal);
    const busy = this.#takeStatementRefusal();
    if (busy) {
      return this.#refuse(FrontendCode.Execute, busy, newAudit(statement?.text ?? portal));
    }
    // A portal bound before its list's withheld columns changed (one resumed after a fetch size).
    const withheld = statement && this.#withheldSince(statement);
    if (withheld) return this.#refuse(FrontendCode.Execute, withheld, newAudit(statement!.text));
    if (!statement || !this.#ctx.statementTimes.quick(statement.statements)) {
      this.#shareable = false;
    }
    this.#pipeline.push({
      code: FrontendCode.Execute,
      positionMap: statement?.positionMap,
      audit: newAudit(statement?.text ?? `FETCH FROM "${portal}"`, statement?.statements),
    });
    this.#lease!.write(message);
  }

  Close(message: Uint8Array): void {
    const { kind, name } = readTarget(message);
    if (kind === 0x53) {
      // Backend statements are shared by every client with the same SQL: only the client's name goes.
      this.#statements.delete(name);
      return this.#pipeline.local(CLOSE_COMPLETE);
    }
    this.#portals.delete(name);
    this.#pipeline.push({ code: FrontendCode.Close });
    this.#lease!.write(message);
  }

  Sync(message: Uint8Array): void {
    this.#pipeline.discarding = false;
    if (!this.#lease) return this.#pipeline.local(readyForQuery(this.#pipeline.status));
    this.#pipeline.push({ code: FrontendCode.Sync });
    this.#lease.write(message);
  }

  /** Session-level effects the door tracks, from a statement's analysis. */
  #note(statements: StatementInfo[]): void {
    for (const s of statements) {
      if (!s.shareable) this.#shareable = false;
      if (s.changesSettings) this.#settingsDirty = true;
      if (s.holdCursor) this.#holdCursors = true;
      if (s.pins) this.#pinned = true;
    }
  }

  /**
   * DEALLOCATE of a protocol-level statement: the backend knows it under
   * another name, so the door creates the client's name there first and lets
   * the client's DEALLOCATE drop it. Returns the client statements it forgot.
   */
  #deallocate(lease: Lease, statements: StatementInfo[]): ClientStatement[] {
    const dropped: ClientStatement[] = [];
    for (const { deallocate: name } of statements) {
      if (name === undefined) continue;
      if (name === null) {
        for (const [key, statement] of [...this.#statements]) {
          if (key === "") continue;
          this.#statements.delete(key);
          dropped.push(statement);
        }
        lease.state.statements.clear();
        continue;
      }
      const statement = this.#statements.get(name);
      if (!statement) continue;
      this.#statements.delete(name);
      dropped.push(statement);
      lease.write(target(FrontendCode.Close, "S", name));
      this.#pipeline.push({ code: FrontendCode.Close, injected: true, quiet: true });
      lease.write(parse(name, "SELECT 1", NO_TYPES));
      this.#pipeline.push({ code: FrontendCode.Parse, injected: true, quiet: true });
      lease.write(SYNC);
      this.#pipeline.push({ code: FrontendCode.Sync, injected: true, quiet: true });
    }
    return dropped;
  }

  /** The statement's name on the leased backend, parsing it there first when needed. */
  #prepare(lease: Lease, statement: ClientStatement): string {
    const state = lease.state;
    if (statement.name === "") {
      if (state.unnamedKey !== statement.key) {
        this.#pipeline.push({
          code: FrontendCode.Parse,
          injected: true,
          onDone: state.parsingUnnamed(statement.key),
          onError: () => (state.unnamedKey = null),
        });
        lease.write(parse("", statement.sql, statement.paramTypes));
      }
      return "";
    }
    let name = state.statements.get(statement.key);
    if (name === undefined) {
      name = state.statements.add(statement.key);
      this.#pipeline.push({
        code: FrontendCode.Parse,
        injected: true,
        onError: () => state.statements.delete(statement.key),
      });
      lease.write(parse(name, statement.sql, statement.paramTypes));
    }
    return name;
  }

  /**
   * Answers `error` in place of a message. The backend gets a statement
   * that fails at the same point, so a transaction aborts and the rest of
   * an extended batch is skipped exactly as PostgreSQL would; its error is
   * replaced by this one.
   */
  /**
   * The refusal of a statement prepared before the connection's withheld
   * columns changed (a PHI level changed meanwhile), analysed again now; or null.
   */
  #withheldSince(statement: ClientStatement): WireError | null {
    if (statement.withheld === this.#scope.withheldTables) return null;
    const analysis = analyze(statement.text, this.#scope);
    if (!analysis.ok) return refusalError(analysis.refusal);
    if (analysis.text !== statement.sql) {
      // It reads a list whose visible columns changed: as PostgreSQL answers when a
      // prepared statement's columns change, so drivers prepare it again.
      return refusalError({
        code: SqlState.FeatureNotSupported,
        message: "cached plan must not change result type",
        hint: "The PHI columns it may read changed: prepare the statement again",
      });
    }
    statement.withheld = this.#scope.withheldTables;
    return null;
  }

  #refuse(code: number, error: WireError, audit?: Audit): void {
    const lease = this.#lease!;
    lease.state.unnamedKey = null;
    if (audit) audit.outcome = "denied";
    if (code === FrontendCode.Query) {
      this.#pipeline.push({ code, refusal: error, audit });
      lease.write(POISON_QUERY);
    } else {
      this.#pipeline.push({ code: FrontendCode.Parse, refusal: error, audit });
      lease.write(POISON_PARSE);
    }
  }

  #analyzeQuery(message: Uint8Array): { text: string; analysis: Analysis } {
    const memo = this.#queryAnalysis;
    if (memo?.message === message) return memo;
    const text = readQuery(message);
    this.#queryAnalysis = { message, text, analysis: analyze(text, this.#scope) };
    return this.#queryAnalysis;
  }

  // ---- leases ----

  /**
   * Before a message that will keep the backend across think time (BEGIN,
   * DECLARE … WITH HOLD, PREPARE) leases one: takes one of the user's
   * pinned shares, or a promise that waits for one and rejects with 53300
   * after the wait.
   */
  #takeShare(code: number, message: Uint8Array): Promise<void> | undefined {
    if (this.#pinShare || !this.ready || !this.#holdsBackend(code, message)) return;
    const got = this.#share(this.#ctx.pins);
    if (got === true) {
      this.#pinShare = true;
      return;
    }
    return got.then(() => {
      this.#pinShare = true;
      if (this.closed) this.#giveShare();
    });
  }

  /**
   * One of the user's shares of `shares`: at once (true), or a promise that
   * waits for one and rejects after the wait, or when a cancel request
   * comes (57014).
   */
  #share(shares: PinShares): true | Promise<void> {
    const userId = this.userId!;
    if (shares.take(userId)) return true;
    this.#acquiring = true;
    this.#abort ??= new AbortController();
    return shares.wait(userId, this.#abort.signal).finally(() => (this.#acquiring = false));
  }

  /**
   * Before a Query or Execute: one of the user's running-statement shares,
   * or a promise that waits for one; when none comes in time (or a cancel
   * request ends the wait) the statement is refused when it is handled, so
   * transaction and batch state follow PostgreSQL's as for any error.
   */
  #takeStatementShare(): Promise<void> | undefined {
    if (this.#statementShare || this.#statementRefusal || !this.ready) return;
    const got = this.#share(this.#ctx.statements);
    if (got === true) {
      this.#statementShare = true;
      return;
    }
    return got.then(() => {
      this.#statementShare = true;
      if (this.closed) this.#giveStatementShare();
    }, (error) => {
      if (!(error instanceof WireError)) throw error;
      this.#abort = null;
      this.#statementRefusal = error;
    });
  }

  /** No replies are due: the connection runs no statement now. */
  #giveStatementShare(): void {
    if (!this.#statementShare) return;
    this.#statementShare = false;
    this.#ctx.statements.give(this.userId!);
  }

  /** The statement refused because the user's statement shares stayed taken, if any. */
  #takeStatementRefusal(): WireError | null {
    const refusal = this.#statementRefusal;
    this.#statementRefusal = null;
    return refusal;
  }

  #holdsBackend(code: number, message: Uint8Array): boolean {
    let statements: StatementInfo[] | undefined;
    if (code === FrontendCode.Query) {
      const { analysis } = this.#analyzeQuery(message);
      if (analysis.ok) statements = analysis.statements;
    } else if (code === FrontendCode.Parse) {
      const last = this.#lastParse;
      if (last && equalBytes(last.message, message)) statements = last.statement.statements;
      else {
        const analysis = analyze(readParse(message).text, this.#scope);
        if (analysis.ok) statements = analysis.statements;
      }
    } else if (code === FrontendCode.Bind) {
      const bound = message[5] === 0 && message[6] === 0 ? "" : readBind(message).statement;
      statements = this.#statements.get(bound)?.statements;
    }
    return statements?.some((s) => s.holdsBackend) ?? false;
  }

  #giveShare(): void {
    if (!this.#pinShare) return;
    this.#pinShare = false;
    this.#ctx.pins.give(this.userId!);
  }

  /**
   * Leases a backend: at once when one is ready (no promise), else after
   * waiting; a lease that comes later is taken up by the next dispatch,
   * which writes to it in the same turn as it flushes.
   */
  #acquire(): void | Promise<void> {
    const arrived = this.#arrived;
    if (arrived) {
      this.#arrived = null;
      if (arrived.writable) return this.#leased(arrived);
      arrived.release(true);
    }
    this.#abort ??= new AbortController();
    let lease: Lease | Promise<Lease>;
    try {
      lease = this.#ctx.engine.acquire(this.#setup, this, {
        signal: this.#abort.signal,
      });
    } catch (error) {
      return Promise.reject(error);
    }
    if (!(lease instanceof Promise)) return this.#leased(lease);
    this.#acquiring = true;
    return lease.then(
      (lease) => {
        this.#acquiring = false;
        if (this.closed) return lease.release(true);
        this.#arrived = lease;
      },
      (error) => {
        this.#acquiring = false;
        if (error instanceof WireError && error.severity === "FATAL") {
          throw new WireError(error.code, this.#hide(error.message), error);
        }
        throw error;
      },
    );
  }

  #leased(lease: Lease): void {
    this.#lease = lease;
    this.#pipeline.status = TxStatus.Idle;
    for (const name of lease.state.statements.takeEvicted()) {
      lease.write(target(FrontendCode.Close, "S", name));
      this.#pipeline.push({ code: FrontendCode.Close, injected: true, quiet: true });
    }
    this.#replaySettings(lease);
  }

  /** Puts the client's own settings on the backend, each in its own batch so one bad value stays alone. */
  #replaySettings(lease: Lease): void {
    if (lease.state.settings === this.#settings) return;
    // A setting the setup made goes back to the setup's value, never to the server's default.
    const changes = settingsDiff(lease.state.settings, this.#settings)
      .map(([name, value]): [string, string | null] => [
        name,
        value ?? lease.state.baseline.get(name) ?? null,
      ]);
    lease.state.settings = this.#settings; // maps are replaced, never changed in place
    if (!changes.length) return;
    lease.write(SET_CONFIG_PARSE);
    this.#pipeline.push({ code: FrontendCode.Parse, injected: true, quiet: true });
    for (const [name, value] of changes) {
      lease.write(bindText("", "", [name, value]));
      this.#pipeline.push({ code: FrontendCode.Bind, injected: true, quiet: true });
      lease.write(EXECUTE_UNNAMED);
      this.#pipeline.push({
        code: FrontendCode.Execute,
        injected: true,
        quiet: true,
        onError: (fields) => this.#dropSetting(lease, name, fields),
      });
      lease.write(SYNC);
      this.#pipeline.push({ code: FrontendCode.Sync, injected: true, quiet: true });
    }
    lease.state.unnamedKey = null;
  }

  #dropSetting(lease: Lease, name: string, fields: [number, string][] | null): void {
    const settings = new Map(this.#settings);
    settings.delete(name);
    this.#settings = settings;
    lease.state.settings = settings;
    const message = fields?.find(([code]) => code === ErrorField.Message)?.[1];
    if (message && !this.ready) this.#startupError ??= `Startup parameter ${name}: ${message}`;
  }

  /**
   * Reads back the session's settings and open cursors after statements
   * that may have changed them, tells the client what changed, then sends
   * the held ReadyForQuery (`rfq`) or calls `done`.
   */
  #capture(rfq: Uint8Array | null, done?: () => void): void {
    const lease = this.#lease!;
    const rows: (string | null)[][] = [];
    let failed = false;
    lease.state.unnamedKey = null;
    this.#pipeline.push({
      code: FrontendCode.Query,
      injected: true,
      quiet: true,
      rows,
      onError: () => (failed = true),
      onDone: () => {
        // Unknown settings on the backend: it is reset or closed at release, the client keeps its own.
        if (failed) this.#tampered = true;
        else this.#captured(lease, rows);
        this.#settingsDirty = false;
        if (rfq) this.#pipeline.emit(rfq);
        done?.();
        if (this.#inFlight === 0) this.#maybeRelease();
      },
    });
    lease.write(CAPTURE_QUERY);
    lease.flush();
  }

  #captured(lease: Lease, rows: (string | null)[][]): void {
    const before = this.#reported();
    const captured = capturedSettings(rows);
    const baseline = lease.state.baseline;
    const settings = new Map<string, string>();
    for (const [name, value] of captured) {
      if (!baseline.has(name) || (name === CLIENT_LOWERED && baseline.get(name) !== value)) {
        settings.set(name, value);
      }
    }
    for (const [name, value] of baseline) {
      if (name !== CLIENT_LOWERED && captured.get(name) !== value) this.#tampered = true;
    }
    this.#settings = settings;
    lease.state.settings = settings;
    this.#holdCursors = Number(rows.find(([name]) => name === "")?.[1] ?? 0) > 0;
    if (!this.ready) return;
    for (const [name, value] of this.#reported()) {
      if (before.get(name) !== value) this.#pipeline.emit(parameterStatus(name, value));
    }
  }

  /** Gives the backend back when the client has no session state on it. */
  #maybeRelease(): void {
    if (this.#inFlight === 0) this.#giveStatementShare();
    const lease = this.#lease;
    if (!lease || this.#inFlight > 0 || this.#settingsDirty) return;
    if (this.#pipeline.status !== TxStatus.Idle || this.#holdCursors || this.#pinned) {
      // Held across think time: counted, even when it began where no share was asked for.
      if (!this.#pinShare) {
        this.#pinShare = true;
        this.#ctx.pins.add(this.userId!);
      }
      return;
    }
    this.#lease = null;
    lease.release(!this.#tampered);
    this.#tampered = false;
    this.#giveShare();
    this.#released();
  }

  #released(): void {
    const waiting = this.#onRelease;
    if (!waiting.length) return;
    this.#onRelease = [];
    for (const resume of waiting) resume();
  }

  // ---- backend replies, ordered by the pipeline ----

  onBackendData(bytes: Uint8Array): void | Promise<void> {
    if (!this.closed) return this.#pipeline.receive(bytes);
  }

  onBackendLost(error: WireError): void {
    this.#lease = null;
    this.#giveShare();
    this.#giveStatementShare();
    this.#terminate(error);
    this.#released();
  }

  /** Physical names and the door's statement names replaced by what the client knows. */
  #hide(text: string): string {
    const cache = this.#lease?.state.statements;
    if (cache && text.includes('"lg_p')) {
      for (const statement of this.#statements.values()) {
        const name = cache.peek(statement.key);
        if (name) text = text.replaceAll(`"${name}"`, `"${statement.name}"`);
      }
    }
    return hidePhysicalNames(text, this.#scope);
  }

  #record(audit: Audit): void {
    const ms = performance.now() - audit.started;
    if (audit.shape) this.#ctx.statementTimes.record(audit.shape, ms);
    this.#ctx.svc.audit.record({
      ...this.#auditBase,
      outcome: audit.outcome,
      detail: audit.text,
      rows: audit.rows,
      durationMs: Math.round(ms * 1000) / 1000,
      message: audit.error ? this.#explained(audit.error) : null,
    });
  }

  /** A statement ended by the time limit says which limit it was, in the audit log. */
  #explained(error: string): string {
    if (!error.startsWith(SqlState.QueryCanceled) || !error.includes("statement timeout")) {
      return error;
    }
    const lowered = Number(this.#settings.get(CLIENT_LOWERED));
    return lowered > 0
      ? `${error} (limit ${lowered / 1000} s, lowered by the client's SET statement_timeout)`
      : `${error} (limit ${this.#scope.statementTimeoutMs / 1000} s, the connection's)`;
  }

  // ---- revocation (revocation.ts) ----

  /** Checks the changes heard before the message goes on; a narrowing reaches the leased backend. */
  #settle(): Promise<boolean> | undefined {
    if (this.watch.heard > this.watch.checked) {
      return this.#ctx.revocations.settle(this).then(() => true);
    }
    if (!this.#narrowedOnLease) {
      this.watch.stale = false;
      return;
    }
    // Not between the messages of an extended batch: an error there skips everything to Sync.
    if (this.#unsynced) return;
    this.#narrowedOnLease = false;
    this.watch.stale = false;
    const lease = this.#lease;
    if (!lease) return;
    // In an aborted transaction this fails, and the ROLLBACK that must follow releases the lease.
    this.#pipeline.push({ code: FrontendCode.Query, injected: true, quiet: true });
    lease.write(query(catalogContextSql(this.#scope)));
    // Set up for another scope now: reset when given back, never reused as is.
    this.#tampered = true;
  }

  revoke(cause: string): void {
    if (this.closed) return;
    this.#ctx.svc.audit.record({
      ...this.#auditBase,
      event: "sql.revoked",
      outcome: "denied",
      message: cause,
    });
    this.#terminate(fatal(SqlState.InvalidAuthorization, `terminating connection: ${cause}`, {
      hint: "Sign in again with a credential that is still valid",
    }));
  }

  rescope(
    folders: FolderScope["readableFolders"],
    withheldTables: FolderScope["withheldTables"],
  ): void {
    const before = this.#scope.readableFolders;
    if (
      JSON.stringify(before) === JSON.stringify(folders) &&
      JSON.stringify(this.#scope.withheldTables) === JSON.stringify(withheldTables)
    ) return;
    this.#scope = { ...this.#scope, readableFolders: folders, withheldTables };
    const setupSql = sessionSetupSql(this.#scope);
    this.#setup = { ...this.#setup, key: this.#ctx.scopeKey(setupSql), setupSql };
    this.#lastParse = null;
    if (this.#lease) {
      this.#narrowedOnLease = true;
      this.watch.stale = true;
    }
    const removed = before.filter(({ id }) => !folders.some((folder) => folder.id === id));
    if (!removed.length) return;
    this.#ctx.svc.audit.record({
      ...this.#auditBase,
      event: "sql.narrowed",
      outcome: "ok",
      detail: `no longer readable: ${removed.map(({ path }) => path).join(", ")}`,
    });
  }

  // ---- from the door ----

  /** A CancelRequest for this connection. */
  cancel(): void {
    if (this.#acquiring) {
      this.#abort?.abort();
      this.#abort = null;
    } else if (this.#lease && this.#inFlight > 0) this.#lease.cancel();
  }

  /** Closes the connection if it sat idle too long; called about once a second. */
  checkIdle(now: number, settings: SqlDoorSettings): void {
    if (this.closed || this.#acquiring || this.#inFlight > 0) return;
    if (!this.ready) return; // the sign-in deadline applies (sign_ins.ts)
    const idle = now - Math.max(this.lastActivity, this.#pipeline.lastReady);
    if (this.#lease) {
      const limitMs = Math.min(settings.idleInTransactionSeconds * 1000, this.#ctx.maxIdleLeaseMs);
      if (idle > limitMs) {
        // PostgreSQL's own text, which drivers and pools may match on.
        this.#terminate(fatal(
          SqlState.IdleInTransactionTimeout,
          "terminating connection due to idle-in-transaction timeout",
          {
            hint:
              `A transaction (or WITH HOLD cursor) holds one of the door's database sessions: ` +
              `commit or roll back within ${limitMs / 1000} s of the last statement`,
          },
        ));
      }
    } else if (idle > settings.idleTimeoutMinutes * 60_000) {
      this.#terminate(
        fatal(
          SqlState.IdleSessionTimeout,
          "Terminating connection after it was idle for too long: reconnect",
        ),
      );
    }
  }

  /** Ends the connection with a FATAL `error` (SQL door switched off, shutdown, sign-in timeout). */
  end(error: WireError): void {
    this.#terminate(error);
  }

  #cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.watch?.stop();
    this.#abort?.abort();
    const lease = this.#lease;
    this.#lease = null;
    if (lease) {
      const busy = this.#inFlight > 0;
      if (busy) lease.cancel();
      lease.release(
        !busy && this.#pipeline.status === TxStatus.Idle && !this.#holdCursors && !this.#pinned &&
          !this.#tampered,
      );
    }
    this.#arrived?.release(true);
    this.#arrived = null;
    this.#giveShare();
    this.#giveStatementShare();
    this.#pipeline.clear();
    this.#released();
    this.#ctx.leave(this);
    this.#transport.end();
  }
}

/** No access while the audit log cannot record it: entries wait in memory until it can. */
function auditUnavailable(failure: unknown): WireError {
  if (isDatabaseUnavailable(failure)) {
    return fatal(SqlState.ConnectionFailure, DATABASE_UNAVAILABLE);
  }
  return fatal(
    SqlState.CannotConnectNow,
    "The audit log cannot be written: the SQL door admits no statements until it can",
    { hint: "Try again in a minute; a labgate administrator can check the server log" },
  );
}

function missingStatement(name: string): WireError {
  return new WireError(
    SqlState.InvalidSqlStatementName,
    name
      ? `Prepared statement "${name}" does not exist`
      : "Unnamed prepared statement does not exist",
  );
}
