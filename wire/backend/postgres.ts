/**
 * The PostgreSQL engine: a pool of raw backend connections made with the
 * DATABASE_URL credentials. Each backend is set up for one folder scope
 * (role, search_path, read-only, timeout) and keeps it while idle, so a
 * client's statement is one round trip; a backend is re-set up for another
 * scope only when the pool is full.
 */
import { createHash } from "node:crypto";
import { ScramClientExchange } from "../../src/security/scram.ts";
import { concat, decodeText, encodeText, Reader, readInt32 } from "../protocol/bytes.ts";
import { ErrorField, SqlState, WireError } from "../protocol/errors.ts";
import { MessageBuffer } from "../protocol/message_buffer.ts";
import { AuthCode, BackendCode, FrontendCode } from "../protocol/message_codes.ts";
import {
  cancelRequest,
  decodeFields,
  type ErrorFields,
  fieldOf,
  passwordMessage,
  query,
  saslInitialResponse,
  startupMessage,
} from "../protocol/messages.ts";
import { ConnTransport } from "../protocol/transport.ts";
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

/** Where and as whom the door connects, from a postgres:// URL. */
export interface PgTarget {
  /** TCP host, or a Unix socket path. */
  host: string;
  port: number;
  unixPath?: string;
  user: string;
  password: string;
  database: string;
}

export function parseTarget(url: string): PgTarget {
  const u = new URL(url);
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new Error(`DATABASE_URL must start with postgres://, got "${u.protocol}"`);
  }
  const sslmode = u.searchParams.get("sslmode");
  if (sslmode && !["disable", "allow", "prefer"].includes(sslmode)) {
    throw new Error(
      `The SQL door cannot use sslmode=${sslmode} for its backend connections yet: ` +
        "connect labgate to PostgreSQL over a local network or Unix socket",
    );
  }
  const port = Number(u.port || u.searchParams.get("port") || 5432);
  const socketDir = u.searchParams.get("host") ?? "";
  const user = decodeURIComponent(u.username) || "postgres";
  return {
    host: u.hostname || "localhost",
    port,
    unixPath: socketDir.startsWith("/") ? `${socketDir}/.s.PGSQL.${port}` : undefined,
    user,
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)) || user,
  };
}

async function dial(target: PgTarget): Promise<Deno.Conn> {
  if (target.unixPath) return await Deno.connect({ transport: "unix", path: target.unixPath });
  const conn = await Deno.connect({ hostname: target.host, port: target.port });
  conn.setNoDelay(true);
  return conn;
}

function md5Hex(text: string | Uint8Array): string {
  return createHash("md5").update(text).digest("hex");
}

function backendError(fields: ErrorFields): WireError {
  return new WireError(
    SqlState.ConnectionFailure,
    `Could not open a database session: ${fieldOf(fields, ErrorField.Message) ?? "unknown error"}`,
    { severity: "FATAL", hint: "Ask a labgate administrator to check the database connection" },
  );
}

/**
 * Where a run of replies goes: one lease's messages, in the order they were
 * sent. Shared routes end with their last ReadyForQuery; a route whose lease
 * holds the backend alone ends when that lease is released.
 */
interface Route {
  lease: PgLease | null;
  /** null: the holder left; its replies are dropped. */
  owner: BackendOwner | null;
  /** ReadyForQuery messages still due. */
  ready: number;
  exclusive: boolean;
  /** The holder left unclean: the backend closes when this route is reached. */
  closeHere: boolean;
  sentAt: number;
}

/** Service time of a route, smoothed: how much queued work a backend has. */
const SERVICE_WEIGHT = 0.1;

/** One raw connection to PostgreSQL, shared by the leases attached to it. */
export class PgBackend {
  readonly state = new BackendState(new StatementCache({ limit: 500, prefix: "lg_p" }));
  readonly #transport: ConnTransport;
  readonly #engine: PostgresEngine;
  readonly #buffer = new MessageBuffer({ maxLength: 0x7fffffff });
  readonly #routes: Route[] = [];
  readonly leases = new Set<PgLease>();
  pid = 0;
  secret = 0;
  /** ParameterStatus values from startup. */
  readonly parameters = new Map<string, string>();
  /** The lease that holds the backend alone (a transaction, an unfinished batch, session state). */
  exclusive: PgLease | null = null;
  /** In the pool's hands (idle, opening or being set up), not attached to clients. */
  pooled = true;
  closed = false;
  /** A cancel was sent: no new leases, and closed once drained, so it cannot hit a later holder. */
  tainted = false;
  idleSince = 0;
  /** When the head route started (its predecessor finished, or it was sent). */
  headSince = 0;
  /** Smoothed milliseconds per route. */
  serviceMs = 0;

  constructor(transport: ConnTransport, engine: PostgresEngine) {
    this.#transport = transport;
    this.#engine = engine;
  }

  /** Routes whose replies are still due. */
  get depth(): number {
    return this.#routes.length;
  }

  /** Startup and authentication with the URL's credentials. */
  async startup(target: PgTarget): Promise<void> {
    this.#transport.write(startupMessage({
      user: target.user,
      database: target.database,
      client_encoding: "UTF8",
    }));
    let scram: ScramClientExchange | null = null;
    for (;;) {
      const message = await this.#next();
      const r = new Reader(message, 5);
      switch (message[0]) {
        case BackendCode.Authentication: {
          const code = r.i32();
          if (code === AuthCode.CleartextPassword) {
            this.#transport.write(passwordMessage(target.password));
          } else if (code === AuthCode.MD5Password) {
            const salt = r.bytes(4);
            const inner = md5Hex(target.password + target.user);
            this.#transport.write(passwordMessage(
              "md5" + md5Hex(concat([encodeText(inner), salt])),
            ));
          } else if (code === AuthCode.SASL) {
            scram = new ScramClientExchange(target.password);
            this.#transport.write(saslInitialResponse("SCRAM-SHA-256", scram.clientFirst()));
          } else if (code === AuthCode.SASLContinue && scram) {
            const final = await scram.clientFinal(decodeText(r.rest()));
            this.#transport.write(passwordMessage(encodeText(final)));
          } else if (code === AuthCode.SASLFinal && scram) {
            if (!scram.verifyServerFinal(decodeText(r.rest()))) {
              throw new WireError(
                SqlState.ConnectionFailure,
                "The database server failed SCRAM authentication: check DATABASE_URL",
                { severity: "FATAL" },
              );
            }
          } else if (code !== AuthCode.Ok) {
            throw new WireError(
              SqlState.ConnectionFailure,
              `The database server asks for authentication method ${code}, which labgate does not support: use scram-sha-256, md5, password or trust`,
              { severity: "FATAL" },
            );
          }
          break;
        }
        case BackendCode.ParameterStatus:
          this.parameters.set(r.cstr(), r.cstr());
          break;
        case BackendCode.BackendKeyData:
          this.pid = r.i32();
          this.secret = r.i32();
          break;
        case BackendCode.ErrorResponse:
          throw backendError(decodeFields(message));
        case BackendCode.ReadyForQuery:
          return;
      }
    }
  }

  /** The next whole message, during startup (before the read loop runs). */
  async #next(): Promise<Uint8Array> {
    for (;;) {
      const message = this.#buffer.next();
      if (message) return message;
      const chunk = await this.#transport.read();
      if (!chunk) {
        throw new WireError(
          SqlState.ConnectionFailure,
          "The database server closed the connection",
          {
            severity: "FATAL",
          },
        );
      }
      this.#buffer.push(chunk);
    }
  }

  /**
   * Reads replies for as long as the connection lives and hands each run
   * to the route it belongs to: a shared route ends with its last
   * ReadyForQuery, and what follows belongs to the next.
   */
  async readLoop(): Promise<void> {
    for (;;) {
      let bytes = this.#buffer.nextBatch();
      while (!bytes) {
        const chunk = await this.#transport.read();
        if (!chunk) return this.#lost();
        this.#buffer.push(chunk);
        bytes = this.#buffer.nextBatch();
      }
      let start = 0;
      for (let at = 0; at < bytes.length;) {
        const end = at + 1 + readInt32(bytes, at + 1);
        if (bytes[at] === BackendCode.ReadyForQuery) {
          const head = this.#routes[0];
          if (head && --head.ready <= 0 && !head.exclusive) {
            this.#advance();
            const wait = head.owner?.onBackendData(bytes.subarray(start, end));
            start = end;
            if (wait) await wait;
            if (this.closed) return;
            this.#settle();
          }
        }
        at = end;
      }
      if (start < bytes.length) {
        const wait = this.#routes[0]?.owner?.onBackendData(bytes.subarray(start));
        if (wait) await wait;
      }
    }
  }

  /** The head route is done: the next one starts. */
  #advance(): void {
    const done = this.#routes.shift()!;
    const now = performance.now();
    const service = now - Math.max(this.headSince, done.sentAt);
    this.serviceMs += (service - this.serviceMs) * SERVICE_WEIGHT;
    this.headSince = now;
    const head = this.#routes[0];
    if (!head) return;
    if (head.closeHere) return this.#retire();
    if (head.lease?.cancelWanted) this.#sendCancel();
  }

  /** Sends `parts` for `lease`; its replies come back to it in this order. */
  send(lease: PgLease, parts: Uint8Array[], ready: number, shared: boolean): void {
    if (this.exclusive && this.exclusive !== lease) {
      // Replies would be handed to the wrong client: end this one instead.
      throw new Error("A backend held by one client was written to by another");
    }
    const routes = this.#routes;
    let route = routes[routes.length - 1];
    if (route?.lease !== lease || route.closeHere) {
      route = {
        lease,
        owner: lease.owner,
        ready: 0,
        exclusive: false,
        closeHere: false,
        sentAt: performance.now(),
      };
      routes.push(route);
      if (routes.length === 1) this.headSince = route.sentAt;
    }
    route.ready += ready;
    if (!shared || ready === 0) {
      route.exclusive = true;
      this.exclusive = lease;
    }
    // Clients served in the same turn of the event loop go out in one write.
    if (!this.#out.length) queueMicrotask(this.#sendOut);
    for (const part of parts) this.#out.push(part);
  }

  #out: Uint8Array[] = [];
  readonly #sendOut = (): void => {
    const out = this.#out;
    this.#out = [];
    this.#transport.write(out.length === 1 ? out[0] : concat(out));
  };

  /** Whether `lease`'s route is the one running now. */
  isHead(lease: PgLease): boolean {
    return this.#routes[0]?.lease === lease;
  }

  /** A lease lets go; an unclean one leaves the backend to be closed once what is ahead is done. */
  detach(lease: PgLease, clean: boolean): void {
    this.leases.delete(lease);
    if (this.exclusive === lease) this.exclusive = null;
    for (let i = 0; i < this.#routes.length; i++) {
      const route = this.#routes[i];
      if (route.lease !== lease) continue;
      route.owner = null;
      if (!route.exclusive) continue;
      if (clean && i === 0) {
        this.#routes.shift();
        this.headSince = performance.now();
        i--;
      } else route.closeHere = true;
    }
    if (this.#routes[0]?.closeHere) return this.#retire();
    this.#settle();
  }

  /** Nothing attached and nothing due: back to the pool (or closed, after a cancel). */
  #settle(): void {
    if (!this.pooled && this.leases.size === 0 && this.#routes.length === 0 && !this.closed) {
      this.#engine.idle(this);
    }
  }

  #retire(): void {
    this.close();
    this.#engine.forget(this);
  }

  #sendCancel(): void {
    this.tainted = true;
    this.#engine.cancel(this);
  }

  /** Cancels `lease`'s statement: now if it is running, else when its turn comes. */
  cancel(lease: PgLease): void {
    if (this.isHead(lease)) this.#sendCancel();
    else if (this.#routes.some((route) => route.lease === lease)) lease.cancelWanted = true;
  }

  #lost(): void {
    this.closed = true;
    this.#transport.close();
    const owners = [...this.leases].map((lease) => lease.owner);
    for (const route of this.#routes) if (!route.lease && route.owner) owners.push(route.owner);
    this.leases.clear();
    this.#routes.length = 0;
    this.#engine.forget(this);
    const error = new WireError(
      SqlState.AdminShutdown,
      "The database session ended unexpectedly: reconnect",
      { severity: "FATAL" },
    );
    for (const owner of owners) owner.onBackendLost(error);
  }

  /**
   * Runs the door's own statements while nobody holds the backend, and
   * returns the reply once `expect` ReadyForQuery messages arrived.
   */
  run(messages: Uint8Array[], expect: number): Promise<ReturnType<typeof readReply>> {
    return new Promise((resolve) => {
      const parts: Uint8Array[] = [];
      const owner: BackendOwner = {
        onBackendData: (bytes) => {
          parts.push(bytes);
          if (route.ready === 0) resolve(readReply(concat(parts)));
        },
        // The lost session's own code (57P01), so that a setup cut short by a restart reads as one.
        onBackendLost: (error) =>
          resolve({
            rows: [],
            error: [[ErrorField.Code, error.code], [ErrorField.Message, error.message]],
          }),
      };
      const route: Route = {
        lease: null,
        owner,
        ready: expect,
        exclusive: false,
        closeHere: false,
        sentAt: performance.now(),
      };
      this.#routes.push(route);
      this.headSince = route.sentAt;
      this.#transport.write(concat(messages));
    });
  }

  close(): void {
    this.closed = true;
    this.#transport.close();
  }
}

/** One client's hold on a backend, from its first message until its replies are in. */
class PgLease implements Lease {
  readonly backend: PgBackend;
  readonly owner: BackendOwner;
  /** A cancel came while the statement waited its turn behind other clients'. */
  cancelWanted = false;
  #pending: Uint8Array[] = [];
  #ready = 0;
  #released = false;

  constructor(backend: PgBackend, owner: BackendOwner) {
    this.backend = backend;
    this.owner = owner;
  }

  get state(): BackendState {
    return this.backend.state;
  }

  get writable(): boolean {
    const backend = this.backend;
    if (backend.closed) return false;
    return backend.exclusive === this || (backend.exclusive === null && !backend.tainted);
  }

  write(bytes: Uint8Array): void {
    this.#pending.push(bytes);
    for (let at = 0; at < bytes.length; at += 1 + readInt32(bytes, at + 1)) {
      if (bytes[at] === FrontendCode.Sync || bytes[at] === FrontendCode.Query) this.#ready++;
    }
  }

  flush(shared = false): void {
    if (!this.#pending.length || this.#released) return;
    this.backend.send(this, this.#pending, this.#ready, shared);
    this.#pending = [];
    this.#ready = 0;
  }

  release(clean: boolean): void {
    if (this.#released) return;
    this.#released = true;
    this.#pending = [];
    this.backend.detach(this, clean);
  }

  cancel(): void {
    this.backend.cancel(this);
  }
}

interface Waiter {
  resolve(backend: PgBackend): void;
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

export class PostgresEngine implements Engine {
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
    let transport: ConnTransport;
    try {
      transport = new ConnTransport(await dial(this.#target));
    } catch (error) {
      this.#opening--;
      throw new WireError(
        SqlState.ConnectionFailure,
        `Could not connect to the database server: ${(error as Error).message}`,
        { severity: "FATAL", hint: "Ask a labgate administrator to check the database server" },
      );
    }
    const backend = new PgBackend(transport, this);
    try {
      await backend.startup(this.#target);
    } catch (error) {
      transport.close();
      throw error;
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
   * queue is within `budgetMs`. Nobody waits for a backend meanwhile, so
   * busy ones drain and go to waiters first.
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
    const backend =
      (this.#all.size + this.#opening < this.#size() ? await this.#open() : undefined) ??
        this.#idle.shift() ??
        await this.#wait(signal);
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

  #wait(signal?: AbortSignal): Promise<PgBackend> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (backend) => {
          signal?.removeEventListener("abort", abort);
          resolve(backend);
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
    const waiter = this.#waiters.shift();
    if (waiter) return waiter.resolve(backend);
    backend.idleSince = performance.now();
    this.#idle.push(backend);
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
    void (async () => {
      try {
        const conn = await dial(this.#target);
        const transport = new ConnTransport(conn);
        transport.write(cancelRequest(backend.pid, backend.secret));
        await transport.read();
        transport.close();
      } catch {
        // the statement finishes on its own or hits the statement timeout
      }
    })();
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
