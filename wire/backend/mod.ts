/**
 * Backends: the real database sessions the door forwards client messages
 * to. A client session holds a *lease* on one while it has session state
 * there (a transaction, an unfinished extended-protocol batch, WITH HOLD
 * cursors); between leases its settings and prepared statements live in the
 * door and are replayed on whichever backend it gets next.
 */
import { readInt32 } from "../protocol/bytes.ts";
import { ErrorField, WireError } from "../protocol/errors.ts";
import { BackendCode } from "../protocol/message_codes.ts";
import { decodeFields, type ErrorFields, fieldOf, readDataRow } from "../protocol/messages.ts";

/** Settings clients are told about in ParameterStatus whenever they change. */
export const REPORTED_SETTINGS = [
  "application_name",
  "client_encoding",
  "DateStyle",
  "IntervalStyle",
  "TimeZone",
  "standard_conforming_strings",
];

/** What a lease is set up for: one folder scope (folder + user). */
export interface ScopeSetup {
  /** Equal keys mean equal setup SQL: a backend set up for one can serve the other. */
  key: string;
  setupSql: string;
  /** Back to neutral, for a session shared with the app (PGlite): each a query of its own. */
  resetSql: readonly string[];
  /**
   * The scope's statement time limit. PostgreSQL enforces the one setupSql
   * sets; the embedded engine, which cannot, stops statements past it itself.
   */
  statementTimeoutMs: number;
}

/** Receives a backend's messages while it holds the lease. */
export interface BackendOwner {
  /**
   * Whole messages, in order. A returned promise pauses reading from the
   * backend until it settles (the client is slow to take rows).
   */
  onBackendData(bytes: Uint8Array): void | Promise<void>;
  /** The backend session is gone; the lease is void. */
  onBackendLost(error: WireError): void;
}

/**
 * A client's hold on a backend session until `release()`. Other clients'
 * batches may run on the same session before and after this client's
 * (PostgreSQL pipelines them), but never inside one: a batch is shared only
 * when it ends with Sync (or is simple queries) and leaves no session state.
 */
export interface Lease {
  readonly state: BackendState;
  /**
   * False once another client holds the backend alone: the holder must
   * wait for its replies, release and lease again before writing.
   */
  readonly writable: boolean;
  /** Queues framed messages for the next `flush()`. */
  write(bytes: Uint8Array): void;
  /**
   * Sends what was written; the replies arrive at the owner. `shared`: the
   * messages end a batch that leaves no session state behind, so other
   * clients may pipeline theirs after it; otherwise the backend is this
   * client's alone until release.
   */
  flush(shared?: boolean): void;
  /**
   * Gives the backend back. `clean` means idle ('I'), nothing in flight and
   * no cursors left; otherwise it is reset or closed.
   */
  release(clean: boolean): void;
  /** Asks the backend to cancel the running statement. */
  cancel(): void;
}

export interface EngineInfo {
  /** The backend's server_version, e.g. "15.20 (Debian 15.20-0+deb12u1)". */
  serverVersion: string;
  /** Neutral values of the settings reported to clients (DateStyle, TimeZone, …). */
  settings: Map<string, string>;
}

export interface PoolState {
  open: number;
  busy: number;
  waiting: number;
}

export interface Engine {
  readonly kind: "pglite" | "postgres";
  info(): Promise<EngineInfo>;
  /**
   * A backend set up for `scope`: at once (no promise) when an idle one is
   * ready, else a promise that waits when all are busy and rejects with a
   * WireError when the database is unreachable or the setup fails.
   */
  acquire(
    scope: ScopeSetup,
    owner: BackendOwner,
    options: { signal?: AbortSignal },
  ): Lease | Promise<Lease>;
  /** Closes idle backends unused for `idleMs`. */
  sweep(idleMs: number): void;
  /** Backends open, in use, and clients waiting for one (metrics). */
  pool(): PoolState;
  close(): Promise<void>;
}

/** Named statements prepared on one backend session: cache key → backend name, least recent first. */
export class StatementCache {
  readonly #names = new Map<string, string>();
  readonly #limit: number;
  readonly #prefix: string;
  #next = 1;
  #evicted: string[] = [];

  constructor(options: { limit: number; prefix: string }) {
    this.#limit = options.limit;
    this.#prefix = options.prefix;
  }

  get(key: string): string | undefined {
    const name = this.#names.get(key);
    if (name !== undefined) {
      this.#names.delete(key);
      this.#names.set(key, name);
    }
    return name;
  }

  /** The backend name for `key`, without counting it as a use. */
  peek(key: string): string | undefined {
    return this.#names.get(key);
  }

  /** Names a new statement for `key`; the oldest ones beyond the limit wait in `takeEvicted()`. */
  add(key: string): string {
    const name = `${this.#prefix}${this.#next++}`;
    this.#names.set(key, name);
    for (const [oldKey, oldName] of this.#names) {
      if (this.#names.size <= this.#limit) break;
      this.#names.delete(oldKey);
      this.#evicted.push(oldName);
    }
    return name;
  }

  delete(key: string): void {
    this.#names.delete(key);
  }

  /** Backend names to Close before the next client message. */
  takeEvicted(): string[] {
    const evicted = this.#evicted;
    if (evicted.length) this.#evicted = [];
    return evicted;
  }

  /** The backend dropped every statement (DISCARD ALL, DEALLOCATE ALL). */
  clear(): void {
    this.#names.clear();
    this.#evicted = [];
  }
}

/** What the door knows about a backend session's state. */
export class BackendState {
  /** The scope it is set up for, or null when neutral. */
  scopeKey: string | null = null;
  /** Session-level settings right after setup (role, search_path, …): never the client's. */
  baseline = new Map<string, string>();
  /** Client settings applied on top of the baseline. */
  settings = new Map<string, string>();
  /** Key of the statement now in the unnamed slot, or null when unknown. */
  unnamedKey: string | null = null;
  /** That statement's ParseComplete came back: a client's Parse of the same may be skipped. */
  unnamedReady = false;
  #unnamedParses = 0;
  readonly statements: StatementCache;

  constructor(statements: StatementCache) {
    this.statements = statements;
  }

  /** Forgets everything after a reset to neutral. */
  reset(): void {
    this.scopeKey = null;
    this.baseline = new Map();
    this.settings = new Map();
    this.unnamedKey = null;
    this.unnamedReady = false;
    this.statements.clear();
  }

  /**
   * A Parse of `key` into the unnamed slot is being sent; the result is to
   * be called at its ParseComplete. Until then nobody skips a Parse on the
   * strength of it: it may still fail.
   */
  parsingUnnamed(key: string): () => void {
    this.unnamedKey = key;
    this.unnamedReady = false;
    const parse = ++this.#unnamedParses;
    return () => {
      if (this.#unnamedParses === parse && this.unnamedKey === key) this.unnamedReady = true;
    };
  }
}

/**
 * Session-level settings and whether WITH HOLD cursors are open, in one
 * query: `source = 'session'` lists exactly what SET changed. The
 * transaction_* settings belong to a transaction (SET of them outside one
 * does nothing): they can be neither replayed nor reset at session level.
 */
export const CAPTURE_SQL = "select name, setting from pg_catalog.pg_settings where source = " +
  "'session' and name not like 'transaction\\_%' " +
  "union all select '', count(*)::text from pg_catalog.pg_cursors where is_holdable";

/** Rows and first error of a complete reply to the door's own statements. */
interface Reply {
  rows: (string | null)[][];
  error: ErrorFields | null;
}

export function readReply(bytes: Uint8Array): Reply {
  const reply: Reply = { rows: [], error: null };
  for (let at = 0; at < bytes.length;) {
    const end = at + 1 + readInt32(bytes, at + 1);
    const message = bytes.subarray(at, end);
    if (bytes[at] === BackendCode.DataRow) reply.rows.push(readDataRow(message));
    else if (bytes[at] === BackendCode.ErrorResponse) reply.error ??= decodeFields(message);
    at = end;
  }
  return reply;
}

/** Session-level settings from CAPTURE_SQL rows, without the cursor count. */
export function capturedSettings(rows: (string | null)[][]): Map<string, string> {
  const settings = new Map<string, string>();
  for (const [name, value] of rows) if (name) settings.set(name, value ?? "");
  return settings;
}

/** A setup failure as the error a client gets. */
export function setupError(fields: ErrorFields): WireError {
  return new WireError(
    fieldOf(fields, ErrorField.Code) ?? "XX000",
    `Could not prepare a database session for this folder: ${
      fieldOf(fields, ErrorField.Message) ?? "unknown error"
    }`,
    { severity: "FATAL", hint: "Ask a labgate administrator to check the server log" },
  );
}
