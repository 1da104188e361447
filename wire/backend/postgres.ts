/**
 * The PostgreSQL engine: a pool of raw backend connections made with the
 * DATABASE_URL credentials. Each backend is set up for one folder scope
 * (role, search_path, read-only, timeout) and keeps it while idle, so a
 * client's statement is one round trip; a backend is re-set up for another
 * scope only when the pool is full. A backend and its leases are in
 * postgres_backend.ts, opening one in postgres_connect.ts.
 */
import { SqlState, WireError } from "../protocol/errors.ts";
import { query } from "../protocol/messages.ts";
import {
  type BackendOwner,
  CAPTURE_SQL,
  capturedSettings,
  type Engine,
  type EngineInfo,
  type Lease,
  type PoolState,
  REPORTED_SETTINGS,
  type ScopeSetup,
  setupError,
} from "./mod.ts";
import { type BackendPool, PgBackend, PgLease } from "./postgres_backend.ts";
import { connect, parseTarget, type PgTarget, sendCancelRequest } from "./postgres_connect.ts";

interface Waiter {
  /** The scope it wants a backend set up for. */
  key: string;
  owner: BackendOwner;
  /** An idle backend (to set up), or a lease on a busy one already set up for `key`. */
  resolve(got: PgBackend | PgLease): void;
  reject(error: unknown): void;
}

/**
 * How much queued work (routes × smoothed service time) a backend may have
 * and still take another client's batch behind it: short statements are
 * pipelined on few backends, slow ones get a backend each...
 */
const QUEUE_BUDGET_MS = 1;
/** ...but this many batches may always queue (the service time also counts the door's own delays). */
const MIN_DEPTH = 4;
/** A backend whose running batch is older than this takes no new clients. */
const HEAD_AGE_MS = 10;

export class PostgresEngine implements Engine, BackendPool {
  readonly kind = "postgres";
  readonly #target: PgTarget;
  readonly #size: () => number;
  readonly #all = new Set<PgBackend>();
  /** Idle backends, least recently released first. */
  #idle: PgBackend[] = [];
  /** Backends with leases or replies due, oldest first: new clients fill the first ones. */
  #busy: PgBackend[] = [];
  #waiters: Waiter[] = [];
  #opening = 0;
  #info: EngineInfo | undefined;
  #closed = false;

  /** `size` is read at each acquire, so a settings change applies at once. */

  pool(): PoolState {
    return {
      open: this.#all.size,
      busy: this.#all.size - this.#idle.length,
      waiting: this.#waiters.length,
    };
  }

  constructor(url: string, options: { size: () => number }) {
    this.#target = parseTarget(url);
    this.#size = options.size;
  }

  async info(): Promise<EngineInfo> {
    if (!this.#info) {
      const backend = await this.#open();
      this.#park(backend);
    }
    return this.#info!;
  }

  async #open(): Promise<PgBackend> {
    this.#opening++;
    let backend: PgBackend;
    try {
      backend = new PgBackend(await connect(this.#target), this);
    } finally {
      this.#opening--;
    }
    this.#all.add(backend);
    this.#info ??= {
      serverVersion: backend.parameters.get("server_version") ?? "",
      settings: new Map(
        REPORTED_SETTINGS.map((name) => [name, backend.parameters.get(name) ?? ""]),
      ),
    };
    void backend.readLoop();
    return backend;
  }

  acquire(
    scope: ScopeSetup,
    owner: BackendOwner,
    options: { signal?: AbortSignal },
  ): Lease | Promise<Lease> {
    if (this.#closed) return this.#acquireSlowly(scope, owner, options.signal);
    const ready = this.#shared(scope.key, QUEUE_BUDGET_MS) ?? this.#takeIdle(scope.key);
    if (!ready) return this.#acquireSlowly(scope, owner, options.signal);
    return this.#attach(ready, owner);
  }

  /**
   * A busy backend set up for `key` that can take one more batch: nobody
   * holds it alone, no cancel is pending, its running batch is young and its
   * queue is within `budgetMs`. Nobody joins one while clients wait for a
   * backend: they are served first, in turn (`#admit`), and a busy backend
   * drains for a waiter that needs another scope or a backend alone.
   */
  #shared(key: string, budgetMs: number): PgBackend | undefined {
    if (this.#waiters.length) return undefined;
    const now = performance.now();
    let best: PgBackend | undefined;
    for (const backend of this.#busy) {
      if (
        backend.state.scopeKey !== key || backend.exclusive || backend.tainted || backend.closed
      ) continue;
      const depth = backend.depth;
      if (depth && now - backend.headSince > HEAD_AGE_MS) continue;
      if (depth < MIN_DEPTH || depth * backend.serviceMs < budgetMs) return backend;
      if (!best || depth < best.depth) best = backend;
    }
    return budgetMs === Infinity ? best : undefined;
  }

  #attach(backend: PgBackend, owner: BackendOwner): PgLease {
    const lease = new PgLease(backend, owner);
    if (backend.pooled) {
      backend.pooled = false;
      this.#busy.push(backend);
    }
    backend.leases.add(lease);
    return lease;
  }

  async #acquireSlowly(
    scope: ScopeSetup,
    owner: BackendOwner,
    signal?: AbortSignal,
  ): Promise<Lease> {
    if (this.#closed) throw new WireError(SqlState.AdminShutdown, "The SQL door is shutting down");
    if (this.#all.size + this.#opening >= this.#size()) {
      // A full pool: queue behind other clients of the same folder rather than wait.
      const shared = this.#shared(scope.key, Infinity);
      if (shared) return this.#attach(shared, owner);
    }
    const got = (this.#all.size + this.#opening < this.#size() ? await this.#open() : undefined) ??
      this.#idle.shift() ??
      await this.#wait(scope.key, owner, signal);
    if (got instanceof PgLease) return got;
    const backend = got;
    try {
      await this.#setUp(backend, scope);
    } catch (error) {
      backend.close();
      this.forget(backend);
      throw error;
    }
    return this.#attach(backend, owner);
  }

  /** The most recently used idle backend set up for `key`: few backends stay warm. */
  #takeIdle(key: string): PgBackend | undefined {
    const idle = this.#idle;
    const index = idle.findLastIndex((b) => b.state.scopeKey === key);
    if (index < 0) return undefined;
    return index === idle.length - 1 ? idle.pop() : idle.splice(index, 1)[0];
  }

  #wait(key: string, owner: BackendOwner, signal?: AbortSignal): Promise<PgBackend | PgLease> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        key,
        owner,
        resolve: (got) => {
          signal?.removeEventListener("abort", abort);
          resolve(got);
        },
        reject,
      };
      const abort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new WireError(SqlState.QueryCanceled, "Canceling statement due to user request"));
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  async #setUp(backend: PgBackend, scope: ScopeSetup): Promise<void> {
    const state = backend.state;
    if (state.scopeKey === scope.key) return;
    const messages = state.scopeKey === null ? [] : [query("DISCARD ALL")];
    messages.push(query(`${scope.setupSql}; ${CAPTURE_SQL}`));
    state.reset();
    const reply = await backend.run(messages, messages.length);
    if (reply.error) throw setupError(reply.error);
    state.scopeKey = scope.key;
    state.baseline = capturedSettings(reply.rows);
  }

  /** A backend has no leases and no replies due: to a waiter, the idle pool, or closed. */
  idle(backend: PgBackend): void {
    backend.pooled = true;
    const index = this.#busy.indexOf(backend);
    if (index >= 0) this.#busy.splice(index, 1);
    if (backend.tainted || backend.closed || this.#closed) {
      backend.close();
      this.forget(backend);
      return;
    }
    this.#park(backend);
  }

  #park(backend: PgBackend): void {
    const waiter = this.#waiters[0];
    if (waiter?.key === backend.state.scopeKey) return this.#admit(backend);
    if (waiter) return this.#waiters.shift()!.resolve(backend);
    backend.idleSince = performance.now();
    this.#idle.push(backend);
  }

  /** A client's replies on `backend` are done: waiting clients of its scope may take the room. */
  progressed(backend: PgBackend): void {
    if (this.#waiters.length && !backend.exclusive && !backend.tainted) this.#admit(backend);
  }

  /**
   * Attaches the first waiters to `backend`, in turn, while they want its
   * scope and it has room (attached clients within the queue budget), so
   * clients that had to wait are pipelined like the others rather than
   * served one per backend until the queue is empty. A waiter for another
   * scope stops it: backends then drain for that one.
   */
  #admit(backend: PgBackend): void {
    const waiters = this.#waiters;
    while (waiters.length && waiters[0].key === backend.state.scopeKey) {
      const load = backend.leases.size;
      if (load >= MIN_DEPTH && load * backend.serviceMs >= QUEUE_BUDGET_MS) return;
      const waiter = waiters.shift()!;
      waiter.resolve(this.#attach(backend, waiter.owner));
    }
  }

  /** A backend is gone: make room, and open a new one for a waiter. */
  forget(backend: PgBackend): void {
    this.#all.delete(backend);
    this.#idle = this.#idle.filter((b) => b !== backend);
    this.#busy = this.#busy.filter((b) => b !== backend);
    const waiter = this.#waiters.shift();
    if (waiter) this.#open().then(waiter.resolve, waiter.reject);
  }

  /** Sends a CancelRequest for the backend's running statement on a new connection. */
  cancel(backend: PgBackend): void {
    void sendCancelRequest(this.#target, backend);
  }

  sweep(idleMs: number): void {
    const cutoff = performance.now() - idleMs;
    for (const backend of this.#idle.filter((b) => b.idleSince < cutoff)) {
      backend.close();
      this.forget(backend);
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters) {
      waiter.reject(new WireError(SqlState.AdminShutdown, "The SQL door is shutting down"));
    }
    this.#waiters = [];
    for (const backend of this.#all) backend.close();
    this.#all.clear();
    this.#idle = [];
    this.#busy = [];
    return Promise.resolve();
  }
}
