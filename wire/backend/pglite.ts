/**
 * The embedded PGlite engine. PGlite is one database session shared with
 * the app, so a lease holds the database lock for as long as the client has
 * session state there, sets the folder up at the start and takes the session
 * back to neutral at the end: SQL-door clients run one at a time.
 *
 * PGlite runs in a thread of its own (src/db/pglite_client.ts) and cannot
 * interrupt a statement, so a statement past its time limit, canceled by its
 * client, or in the app's way for too long is stopped by restarting that
 * thread: the client gets 57014 and a session set up as before. A client
 * that holds the session idle (an open transaction) while the app waits for
 * it is ended instead, its transaction rolled back (`yieldToApp()`).
 */
import type { Mutex } from "../../src/db/mod.ts";
import { type PgliteClient, StatementStopped } from "../../src/db/pglite_client.ts";
import { concat, readInt32 } from "../protocol/bytes.ts";
import { ErrorField, SqlState, WireError } from "../protocol/errors.ts";
import { BackendCode, FrontendCode, TxStatus } from "../protocol/message_codes.ts";
import { errorResponse, fieldOf, query, readyForQuery, SYNC } from "../protocol/messages.ts";
import {
  type BackendOwner,
  BackendState,
  CAPTURE_SQL,
  capturedSettings,
  type Engine,
  type EngineInfo,
  type Lease,
  type PoolState,
  readReply,
  REPORTED_SETTINGS,
  type ScopeSetup,
  setupError,
  StatementCache,
} from "./mod.ts";

/** What the engine tells the door. */
interface PgliteEngineOptions {
  /** A client's session was ended for the app (audited by the door). */
  onPreempted?: (owner: BackendOwner, error: WireError) => void;
}

/**
 * Why a session held in a transaction was ended for the app: it sat idle,
 * or its client stopped reading the results it had asked for.
 */
type YieldCause = "idle" | "slow_reader";

/**
 * What a client holding the session in a transaction while the app waited
 * for it is told, as it goes.
 */
function preemptedWhileIdle(waitedMs: number, cause: YieldCause = "idle"): WireError {
  return new WireError(
    SqlState.IdleInTransactionTimeout,
    "terminating connection: another user needed the embedded database, so this session's " +
      "open transaction was rolled back",
    {
      severity: "FATAL",
      detail: cause === "idle"
        ? `labgate's web side waited ${waitedMs} ms for this idle session`
        : `labgate's web side waited ${waitedMs} ms for this session, whose client stopped ` +
          "reading the results it had asked for",
      hint: "The embedded database has one session for everyone: keep transactions short and " +
        "read results as they come, or run labgate on PostgreSQL (DATABASE_URL), where each " +
        "client has its own",
    },
  );
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export class PgliteEngine implements Engine {
  readonly kind = "pglite";
  readonly #pglite: PgliteClient;
  readonly #lock: Mutex;
  /** The one session's state; the reset drops its named statements at the end of each lease. */
  readonly #state = new BackendState(new StatementCache({ limit: 2000, prefix: "lg_p" }));
  /** Baseline settings per scope, captured the first time a scope is set up. */
  readonly #baselines = new Map<string, Map<string, string>>();
  #info: EngineInfo | undefined;
  /** The session's transaction status at its last ReadyForQuery. */
  #status: number = TxStatus.Idle;
  readonly #options: PgliteEngineOptions;
  /** The lease holding the session now (until its reset is done and the lock given back). */
  #current: PgliteLease | null = null;
  readonly #unsubscribe: () => void;

  /** One session; the app's own queries wait on the same lock. */
  pool(): PoolState {
    const pending = this.#lock.pending;
    return { open: 1, busy: pending > 0 ? 1 : 0, waiting: Math.max(0, pending - 1) };
  }

  constructor(pglite: PgliteClient, lock: Mutex, options: PgliteEngineOptions = {}) {
    this.#pglite = pglite;
    this.#lock = lock;
    this.#options = options;
    this.#unsubscribe = pglite.onPreempt(() => this.#current?.yieldIdle());
  }

  /** The app waits for the session (LABGATE_EMBEDDED_PREEMPT_MS have passed). */
  get appWaiting(): boolean {
    return this.#pglite.preempting;
  }

  /** The app waits for the session, and the lease's client holds it in a transaction. */
  get heldInTransaction(): boolean {
    return this.#pglite.preempting && this.#status !== TxStatus.Idle;
  }

  /** `lease` was ended for the app: counted, and the door told. */
  preempted(lease: PgliteLease, owner: BackendOwner, error: WireError, cause: YieldCause): void {
    this.#pglite.preemptions[cause]++;
    this.#options.onPreempted?.(owner, error);
    this.released(lease);
  }

  /** `lease` no longer holds the session. */
  released(lease: PgliteLease): void {
    if (this.#current === lease) this.#current = null;
  }

  get preemptAfterMs(): number {
    return this.#pglite.preemptAfterMs;
  }

  /** Runs the door's own messages now (the caller holds the lock). */
  async #run(bytes: Uint8Array) {
    return readReply(await this.#pglite.execProtocolRaw(bytes));
  }

  async info(): Promise<EngineInfo> {
    if (!this.#info) {
      const names = REPORTED_SETTINGS.map((n) => `'${n}'`).join(", ");
      const { rows } = await this.#lock.run(() =>
        this.#run(query(
          `select name, setting from pg_catalog.pg_settings where name in (${names}) ` +
            "union all select 'server_version', current_setting('server_version')",
        ))
      );
      const settings = capturedSettings(rows);
      const serverVersion = settings.get("server_version") ?? "";
      settings.delete("server_version");
      this.#info = { serverVersion, settings };
    }
    return this.#info;
  }

  async acquire(
    scope: ScopeSetup,
    owner: BackendOwner,
    options: { signal?: AbortSignal },
  ): Promise<Lease> {
    const release = await lockUnlessAborted(this.#lock, options.signal);
    try {
      await this.#setUp(scope);
    } catch (error) {
      release();
      throw error;
    }
    const state = this.#state;
    state.scopeKey = scope.key;
    state.baseline = this.#baselines.get(scope.key)!;
    state.settings = new Map();
    state.unnamedKey = null;
    const lease = new PgliteLease(this, state, owner, scope, release);
    this.#current = lease;
    return lease;
  }

  /** Puts the session into `scope`'s sandbox, capturing the scope's baseline the first time. */
  async #setUp(scope: ScopeSetup): Promise<void> {
    const baseline = this.#baselines.get(scope.key);
    const reply = await this.#run(
      query(baseline ? scope.setupSql : `${scope.setupSql}; ${CAPTURE_SQL}`),
    );
    if (reply.error) {
      await this.#run(concat([SYNC, ...scope.resetSql.map((statement) => query(statement))]));
      this.#state.statements.clear();
      throw setupError(reply.error);
    }
    if (!baseline) {
      if (this.#baselines.size > 10_000) this.#baselines.clear();
      this.#baselines.set(scope.key, capturedSettings(reply.rows));
    }
  }

  /**
   * Runs a client's messages and hands the replies to the owner, one round
   * trip per part (up to each Query and Sync; usually the whole batch). A
   * part stopped on the way gets 57014 as its reply, and a session stopped
   * with it is set up again (the sandbox, the client's settings) before the
   * owner hears; the parts after it run on as they would on PostgreSQL.
   */
  async execute(bytes: Uint8Array, lease: PgliteLease, owner: BackendOwner): Promise<void> {
    for (const part of parts(bytes)) {
      if (!lease.held) return;
      let reply: Uint8Array;
      try {
        reply = await this.#pglite.execProtocolRaw(part, {
          timeoutMs: lease.timeoutMs(),
          preemptible: true,
          owner: lease,
        });
      } catch (error) {
        if (!(error instanceof StatementStopped)) throw error;
        if (error.restarted) {
          this.#status = TxStatus.Idle;
          await this.#restore(lease);
        }
        reply = stoppedReply(
          part,
          new WireError(SqlState.QueryCanceled, error.message, { hint: error.hint }),
          this.#status === TxStatus.Idle ? TxStatus.Idle : TxStatus.Failed,
        );
      }
      const length = reply.length;
      if (length >= 6 && reply[length - 6] === BackendCode.ReadyForQuery) {
        this.#status = reply[length - 1];
      }
      if (length) await lease.delivered(owner.onBackendData(reply));
    }
  }

  /** A new session after a restart: the lease's sandbox and settings, no statements. */
  async #restore(lease: PgliteLease): Promise<void> {
    const state = lease.state;
    state.statements.clear();
    state.unnamedKey = null;
    await this.#setUp(lease.scope);
    if (!state.settings.size) return;
    const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
    const { error } = await this.#run(query(
      [...state.settings].map(([name, value]) =>
        `select pg_catalog.set_config(${literal(name)}, ${literal(value)}, false)`
      ).join("; "),
    ));
    if (error) throw setupError(error);
  }

  /** Stops the lease's running statement; false when it has none running. */
  interrupt(lease: PgliteLease, message: string): boolean {
    return this.#pglite.interrupt(lease, new StatementStopped(message, { restarted: true }));
  }

  /** Takes the session back to neutral; `clean` false also ends a transaction and cursors. */
  async reset(scope: ScopeSetup, state: BackendState, clean: boolean): Promise<void> {
    const resets = [...state.settings.keys()].map((name) => `RESET ${quoteIdent(name)}`);
    const messages: Uint8Array[] = clean ? [] : [SYNC];
    messages.push(...[...scope.resetSql, ...resets].map((statement) => query(statement)));
    // The reset deallocates every prepared statement, the door's too.
    state.statements.clear();
    state.scopeKey = null;
    state.settings = new Map();
    state.unnamedKey = null;
    const { error } = await this.#run(concat(messages));
    this.#status = TxStatus.Idle;
    if (error) {
      const message = fieldOf(error, ErrorField.Message);
      console.error(`SQL door: a statement resetting the embedded session failed: ${message}`);
    }
  }

  sweep(): void {}

  close(): Promise<void> {
    this.#unsubscribe();
    return Promise.resolve();
  }
}

/** A batch cut after each Query and Sync: the whole batch when it has one such message at its end. */
function parts(bytes: Uint8Array): Uint8Array[] {
  const cut: Uint8Array[] = [];
  let from = 0;
  for (let at = 0; at < bytes.length;) {
    const code = bytes[at];
    at += 1 + readInt32(bytes, at + 1);
    if (code === FrontendCode.Query || code === FrontendCode.Sync) {
      cut.push(bytes.subarray(from, at));
      from = at;
    }
  }
  if (from < bytes.length) cut.push(bytes.subarray(from));
  return cut;
}

/**
 * What a batch stopped before it answered gets: `error` for each failed
 * part (a simple query, or extended messages up to their Sync, after which
 * PostgreSQL skips the rest), ReadyForQuery for each Query and Sync.
 */
function stoppedReply(bytes: Uint8Array, error: WireError, status: number): Uint8Array {
  const replies: Uint8Array[] = [];
  let failed = false;
  for (let at = 0; at < bytes.length; at += 1 + readInt32(bytes, at + 1)) {
    const code = bytes[at];
    if (code === FrontendCode.Query) replies.push(errorResponse(error), readyForQuery(status));
    else if (code === FrontendCode.Sync) replies.push(readyForQuery(status));
    else if (!failed) replies.push(errorResponse(error));
    failed = code !== FrontendCode.Query && code !== FrontendCode.Sync;
  }
  return concat(replies);
}

/** PGlite is one session: a lease always holds it alone. */
class PgliteLease implements Lease {
  readonly state: BackendState;
  readonly writable = true;
  readonly scope: ScopeSetup;
  readonly #engine: PgliteEngine;
  readonly #owner: BackendOwner;
  #unlock: (() => void) | null;
  #pending: Uint8Array[] = [];
  /** The batches being run, in order: the release waits for them. */
  #running: Promise<void> | null = null;
  /** Stops waiting for the client to take a reply (`delivered()`), while it waits. */
  #stopWaiting: (() => void) | null = null;
  /** The app stopped a wait for the client: it was not reading. */
  #stalled = false;

  constructor(
    engine: PgliteEngine,
    state: BackendState,
    owner: BackendOwner,
    scope: ScopeSetup,
    unlock: () => void,
  ) {
    this.#engine = engine;
    this.state = state;
    this.#owner = owner;
    this.scope = scope;
    this.#unlock = unlock;
  }

  /** The lease still holds the session. */
  get held(): boolean {
    return this.#unlock !== null;
  }

  /** The statement time limit in force: the client's own if it lowered it (SET statement_timeout). */
  timeoutMs(): number {
    const lowered = Number(this.state.settings.get("statement_timeout"));
    return lowered > 0
      ? Math.min(lowered, this.scope.statementTimeoutMs)
      : this.scope.statementTimeoutMs;
  }

  write(bytes: Uint8Array): void {
    this.#pending.push(bytes);
  }

  /**
   * Runs what was written. The owner may write and flush again while it
   * reads the reply; that batch runs once the reply has been read.
   */
  flush(): void {
    if (this.#running) return;
    this.#running = this.#drain().finally(() => (this.#running = null));
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length && this.#unlock) {
        const bytes = concat(this.#pending);
        this.#pending = [];
        await this.#engine.execute(bytes, this, this.#owner);
      }
      // The app waited meanwhile, and this client keeps a transaction open: it goes first.
      if (this.#unlock && this.#engine.heldInTransaction) this.#yieldToApp();
    } catch (error) {
      // The database thread is gone and could not be brought back: the lease is void.
      const unlock = this.#unlock;
      this.#unlock = null;
      this.#pending = [];
      this.#engine.released(this);
      unlock?.();
      this.#owner.onBackendLost(
        error instanceof WireError ? error : new WireError(
          SqlState.ConnectionFailure,
          `terminating connection: the embedded database failed: ${(error as Error).message}`,
          { severity: "FATAL" },
        ),
      );
    }
  }

  /**
   * Waits for the client to take a reply (`wait`, the owner's backpressure)
   * before the session runs anything more — unless the app waits for the
   * session: the reply stays queued for the client, and the batch goes on
   * (what is left of it stopped, as the app goes first). A lease in a
   * transaction is then ended at the batch's end.
   */
  async delivered(wait: void | Promise<void>): Promise<void> {
    if (!wait || this.#engine.appWaiting) return;
    await new Promise<void>((resolve) => {
      this.#stopWaiting = resolve;
      wait.then(resolve, resolve);
    });
    this.#stopWaiting = null;
  }

  /**
   * The app waits for the session: a client not taking its replies is waited
   * for no more; unless a batch is running (it checks when done), a lease
   * idle in a transaction ends now.
   */
  yieldIdle(): void {
    if (this.#stopWaiting) {
      this.#stalled = true;
      this.#stopWaiting();
    } else if (this.#unlock && !this.#running) this.#yieldToApp();
  }

  /**
   * Ends the lease for the app: the client is told why and disconnected
   * (after the replies queued for it), and the session is reset (its
   * transaction rolled back) and given back.
   */
  #yieldToApp(): void {
    const cause = this.#stalled ? "slow_reader" : "idle";
    const error = preemptedWhileIdle(this.#engine.preemptAfterMs, cause);
    this.#engine.preempted(this, this.#owner, error, cause);
    this.release(false);
    this.#owner.onBackendLost(error);
  }

  release(clean: boolean): void {
    const unlock = this.#unlock;
    if (!unlock) return;
    this.#unlock = null;
    this.#pending = [];
    // Ended (its transaction rolled back): its replies stay queued for the client, and the
    // session waits no more for it to read them (an idle limit ending a client that stopped
    // reading would otherwise not give the session back).
    if (!clean) this.#stopWaiting?.();
    const running = this.#running ?? Promise.resolve();
    void running
      .then(() => this.#engine.reset(this.scope, this.state, clean))
      .catch((error) =>
        console.error(`SQL door: resetting the embedded session failed: ${error?.message}`)
      )
      .finally(() => {
        // Current until here: the app's wait may still stop the wait for this client.
        this.#engine.released(this);
        unlock();
      });
  }

  cancel(): void {
    this.#engine.interrupt(this, "canceling statement due to user request");
  }
}

/** Waits for the lock; if `signal` fires first, gives the lock back as soon as it comes. */
async function lockUnlessAborted(lock: Mutex, signal?: AbortSignal): Promise<() => void> {
  const pending = lock.acquire();
  if (!signal) return await pending;
  return await new Promise((resolve, reject) => {
    const abort = () => {
      pending.then((release) => release());
      reject(new WireError(SqlState.QueryCanceled, "Canceling statement due to user request"));
    };
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    pending.then((release) => {
      signal.removeEventListener("abort", abort);
      if (signal.aborted) release();
      else resolve(release);
    });
  });
}
