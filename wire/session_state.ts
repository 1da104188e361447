/**
 * What one client connection of the SQL door knows, in one place: who signed
 * in and to which folder, the client's statements and portals, its settings,
 * the backend it leases and the shares it holds. The phases of the protocol
 * are modules of functions over this state: signing in (session_login.ts),
 * the handler of each frontend message (session_messages.ts), the client's
 * statements across backends (session_statements.ts), leases and shares
 * (session_leases.ts); `Session` (session.ts) runs the connection and
 * dispatches its messages.
 */
import type { AuditRecord } from "../src/audit/mod.ts";
import type { SqlDoorSettings } from "../src/doors/sql/settings.ts";
import { DATABASE_UNAVAILABLE, isDatabaseUnavailable } from "../src/errors.ts";
import type { Services } from "../src/services.ts";
import type { Authenticated } from "./auth.ts";
import {
  type BackendOwner,
  type Engine,
  type EngineInfo,
  type Lease,
  REPORTED_SETTINGS,
  type ScopeSetup,
} from "./backend/mod.ts";
import type { ShownNames } from "./column_names.ts";
import type { PinShares } from "./pin_shares.ts";
import type { Audit, Pipeline } from "./pipeline.ts";
import { fatal, SqlState, WireError } from "./protocol/errors.ts";
import type { MessageBuffer } from "./protocol/message_buffer.ts";
import type { Transport } from "./protocol/transport.ts";
import type { LoginWatch, Revocations, Watched } from "./revocation.ts";
import {
  type Analysis,
  type FolderScope,
  hidePhysicalNames,
  type SqlRefusal,
  type StatementInfo,
} from "./sandbox.ts";
import type { StatementTimes } from "./statement_times.ts";

/** A connection as the door sees it: for caps, cancel routing, the idle sweep and shutdown. */
export interface DoorSession extends Watched {
  readonly pid: number;
  readonly secret: number;
  readonly userId: number | null;
  /** A CancelRequest for this connection. */
  cancel(): void;
  /** Closes the connection if it sat idle too long; called about once a second. */
  checkIdle(now: number, settings: SqlDoorSettings): void;
  /** Ends the connection with a FATAL `error`. */
  end(error: WireError): void;
}

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
  admit(session: DoorSession, userId: number): { pid: number; secret: number } | WireError;
  leave(session: DoorSession): void;
  log(message: string): void;
}

/** What the listener learned before the StartupMessage was read. */
export interface StartupInfo {
  params: Map<string, string>;
  /** Protocol minor version the client asked for (3.x). */
  minor: number;
  buffer: MessageBuffer;
  clientAddr: string | null;
  /** Called at the first ReadyForQuery: the sign-in deadline no longer applies. */
  signedIn(): void;
}

/** A statement the client prepared (or the unnamed one). */
export interface ClientStatement {
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

/**
 * The one setting of the scope setup a client may change (the sandbox lets
 * it lower the statement timeout): kept and replayed like the client's own.
 */
export const CLIENT_LOWERED = "statement_timeout";

export class SessionState {
  readonly ctx: DoorContext;
  readonly transport: Transport;
  readonly startup: StartupInfo;
  readonly buffer: MessageBuffer;
  /** Orders the replies; set by the Session, whose callbacks it calls. */
  pipeline!: Pipeline;
  /** Receives the leased backend's messages: the Session. */
  owner!: BackendOwner;

  // ---- the connection ----
  lastActivity = performance.now();
  /** Cancel keys, given when the door admits the connection. */
  pid = 0;
  secret = 0;
  userId: number | null = null;
  /** Signed in: the first ReadyForQuery was sent. */
  ready = false;
  closed = false;

  // ---- who signed in, and to which folder ----
  auth!: Authenticated;
  /** What the login rests on: set once signed in, read before every message. */
  watch!: LoginWatch;
  /** The leased backend still has the catalog of folders the client may no longer read. */
  narrowedOnLease = false;
  scope!: FolderScope;
  /** Renames result columns to the names their lists define (see column_names.ts). */
  shownNames: ShownNames | null = null;
  setup!: ScopeSetup;
  auditBase!: Omit<AuditRecord, "outcome" | "detail" | "rows" | "durationMs">;

  // ---- the client's statements (session_statements.ts) ----
  readonly statements = new Map<string, ClientStatement>();
  /** The last Parse the sandbox allowed, as sent, and its statement. */
  lastParse: { message: Uint8Array; statement: ClientStatement } | null = null;
  readonly portals = new Map<string, ClientStatement>();
  /**
   * The withheld columns in force when each SQL cursor and prepared
   * statement on the leased backend was defined (StatementInfo.named); none
   * outlive the lease.
   */
  readonly definedUnder = new Map<string, FolderScope["withheldTables"]>();
  /** A Query analysed before its lease came (to know whether it takes a share), for Query(). */
  queryAnalysis: { message: Uint8Array; text: string; analysis: Analysis } | null = null;

  // ---- session state on the backend (session_leases.ts) ----
  /** The client's own session settings (beyond the scope's setup), as the backend reports them. */
  settings = new Map<string, string>();
  settingsDirty = false;
  /** Client statements run since the last ReadyForQuery with nothing after it. */
  statementsSinceReady = 0;
  /**
   * The one statement since then sets one setting: the key of what it
   * leaves (settings before it and its SQL), and the pipeline's error and
   * notice counts when it was sent; capture() may answer from what it learned.
   */
  settingsStep: { key: string; errors: number; notices: number } | null = null;
  holdCursors = false;
  pinned = false;
  /** A setting the setup owns changed: the backend must not be reused as is. */
  tampered = false;
  /** A startup parameter the backend refused: the login fails with it. */
  startupError: string | null = null;

  // ---- the lease (session_leases.ts) ----
  lease: Lease | null = null;
  /** A lease that came after a wait, for the next dispatch to take up. */
  arrived: Lease | null = null;
  /** Extended-protocol messages were written since the last Sync. */
  unsynced = false;
  /** What was written since the last flush may share the backend with other clients. */
  shareable = true;
  /** Called when the lease is given back (a client waiting to write elsewhere). */
  onRelease: (() => void)[] = [];
  /** Waiting for a backend or a share; a cancel request aborts the wait through `abort`. */
  acquiring = false;
  abort: AbortController | null = null;

  // ---- the user's shares (pin_shares.ts) ----
  /** Holds one of the user's pinned shares. */
  pinShare = false;
  /** Holds one of the user's running-statement shares: from a Query or Execute to no replies due. */
  statementShare = false;
  /** No share came in time: the next Query or Execute is refused with this. */
  statementRefusal: WireError | null = null;

  constructor(ctx: DoorContext, transport: Transport, startup: StartupInfo) {
    this.ctx = ctx;
    this.transport = transport;
    this.startup = startup;
    this.buffer = startup.buffer;
  }

  /** Messages whose replies are still due. */
  get inFlight(): number {
    return this.pipeline.inFlight;
  }

  /** Physical names and the door's statement names replaced by what the client knows. */
  hide(text: string): string {
    const cache = this.lease?.state.statements;
    if (cache && text.includes('"lg_p')) {
      for (const statement of this.statements.values()) {
        const name = cache.peek(statement.key);
        if (name) text = text.replaceAll(`"${name}"`, `"${statement.name}"`);
      }
    }
    return hidePhysicalNames(text, this.scope);
  }

  /** The values of the settings clients are told about in ParameterStatus. */
  reported(): Map<string, string> {
    return new Map(REPORTED_SETTINGS.map((name) => [
      name,
      this.settings.get(name) ?? this.ctx.info.settings.get(name) ?? "",
    ]));
  }
}

/** A statement to audit once it has run, from now. */
export function newAudit(text: string, shape?: readonly StatementInfo[]): Audit {
  return { text, shape, started: performance.now(), rows: 0, outcome: "ok" };
}

export function refusalError(refusal: SqlRefusal): WireError {
  return new WireError(refusal.code, refusal.message, refusal);
}

/** No access while the audit log cannot record it: entries wait in memory until it can. */
export function auditUnavailable(failure: unknown): WireError {
  if (isDatabaseUnavailable(failure)) {
    return fatal(SqlState.ConnectionFailure, DATABASE_UNAVAILABLE);
  }
  return fatal(
    SqlState.CannotConnectNow,
    "The audit log cannot be written: the SQL door admits no statements until it can",
    { hint: "Try again in a minute; a labgate administrator can check the server log" },
  );
}
