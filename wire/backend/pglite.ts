/**
 * The embedded PGlite engine. PGlite is one database session shared with
 * the app, so a lease holds the database lock for as long as the client has
 * session state there, sets the folder up at the start and takes the session
 * back to neutral at the end: SQL-door clients run one at a time. Statements
 * execute synchronously inside WASM, so neither a cancel request nor the
 * statement timeout can stop one that is running (see README notes).
 */
import type { PGlite } from "@electric-sql/pglite";
import type { Mutex } from "../../src/db/mod.ts";
import { concat } from "../protocol/bytes.ts";
import { ErrorField, SqlState, WireError } from "../protocol/errors.ts";
import { fieldOf, query, SYNC } from "../protocol/messages.ts";
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

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export class PgliteEngine implements Engine {
  readonly kind = "pglite";
  readonly #pglite: PGlite;
  readonly #lock: Mutex;
  /** The one session's state; the reset drops its named statements at the end of each lease. */
  readonly #state = new BackendState(new StatementCache({ limit: 2000, prefix: "lg_p" }));
  /** Baseline settings per scope, captured the first time a scope is set up. */
  readonly #baselines = new Map<string, Map<string, string>>();
  #info: EngineInfo | undefined;

  /** One session; the app's own queries wait on the same lock. */
  pool(): PoolState {
    const pending = this.#lock.pending;
    return { open: 1, busy: pending > 0 ? 1 : 0, waiting: Math.max(0, pending - 1) };
  }

  constructor(pglite: PGlite, lock: Mutex) {
    this.#pglite = pglite;
    this.#lock = lock;
  }

  /** Runs the door's own messages now (the caller holds the lock). */
  #run(bytes: Uint8Array) {
    return readReply(this.#pglite.execProtocolRawSync(bytes));
  }

  async info(): Promise<EngineInfo> {
    if (!this.#info) {
      const names = REPORTED_SETTINGS.map((n) => `'${n}'`).join(", ");
      const { rows } = await this.#lock.run(() =>
        Promise.resolve(this.#run(query(
          `select name, setting from pg_catalog.pg_settings where name in (${names}) ` +
            "union all select 'server_version', current_setting('server_version')",
        )))
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
      const baseline = this.#baselines.get(scope.key);
      const reply = this.#run(
        query(baseline ? scope.setupSql : `${scope.setupSql}; ${CAPTURE_SQL}`),
      );
      if (reply.error) {
        this.#run(concat([SYNC, ...scope.resetSql.map((statement) => query(statement))]));
        this.#state.statements.clear();
        throw setupError(reply.error);
      }
      if (!baseline) {
        if (this.#baselines.size > 10_000) this.#baselines.clear();
        this.#baselines.set(scope.key, capturedSettings(reply.rows));
      }
    } catch (error) {
      release();
      throw error;
    }
    const state = this.#state;
    state.scopeKey = scope.key;
    state.baseline = this.#baselines.get(scope.key)!;
    state.settings = new Map();
    state.unnamedKey = null;
    return new PgliteLease(this, state, owner, scope, release);
  }

  /** Runs a client's messages and hands the reply to the owner. */
  execute(bytes: Uint8Array, owner: BackendOwner): void {
    const reply = this.#pglite.execProtocolRawSync(bytes);
    if (reply.length) void owner.onBackendData(reply);
  }

  /** Takes the session back to neutral; `clean` false also ends a transaction and cursors. */
  reset(scope: ScopeSetup, state: BackendState, clean: boolean): void {
    const resets = [...state.settings.keys()].map((name) => `RESET ${quoteIdent(name)}`);
    const messages: Uint8Array[] = clean ? [] : [SYNC];
    messages.push(...[...scope.resetSql, ...resets].map((statement) => query(statement)));
    const { error } = this.#run(concat(messages));
    if (error) {
      const message = fieldOf(error, ErrorField.Message);
      console.error(`SQL door: a statement resetting the embedded session failed: ${message}`);
    }
    // The reset deallocates every prepared statement, the door's too.
    state.statements.clear();
    state.scopeKey = null;
    state.settings = new Map();
    state.unnamedKey = null;
  }

  sweep(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** PGlite is one session: a lease always holds it alone. */
class PgliteLease implements Lease {
  readonly state: BackendState;
  readonly writable = true;
  readonly #engine: PgliteEngine;
  readonly #owner: BackendOwner;
  readonly #scope: ScopeSetup;
  #unlock: (() => void) | null;
  #pending: Uint8Array[] = [];
  #running = false;

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
    this.#scope = scope;
    this.#unlock = unlock;
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
    this.#running = true;
    try {
      while (this.#pending.length && this.#unlock) {
        const bytes = concat(this.#pending);
        this.#pending = [];
        this.#engine.execute(bytes, this.#owner);
      }
    } finally {
      this.#running = false;
    }
  }

  release(clean: boolean): void {
    const unlock = this.#unlock;
    if (!unlock) return;
    this.#unlock = null;
    this.#pending = [];
    try {
      this.#engine.reset(this.#scope, this.state, clean);
    } finally {
      unlock();
    }
  }

  cancel(): void {
    // Statements run synchronously: by the time a cancel is read, none is running.
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
