/**
 * One raw connection to PostgreSQL in the door's pool (`PgBackend`) and a
 * client's hold on it (`PgLease`). Several clients' batches may be queued on
 * one backend: each run of replies is routed back to the lease that sent it,
 * in the order sent.
 */
import { concat, readInt32 } from "../protocol/bytes.ts";
import { ErrorField, SqlState, WireError } from "../protocol/errors.ts";
import type { MessageBuffer } from "../protocol/message_buffer.ts";
import { BackendCode, FrontendCode } from "../protocol/message_codes.ts";
import type { ConnTransport } from "../protocol/transport.ts";
import { type BackendOwner, BackendState, type Lease, readReply, StatementCache } from "./mod.ts";
import type { PgConnection } from "./postgres_connect.ts";

/** What a backend tells the pool that holds it (the engine, postgres.ts). */
export interface BackendPool {
  /** It has no leases and no replies due. */
  idle(backend: PgBackend): void;
  /** A client's replies on it are done while others are still attached: it has room again. */
  progressed(backend: PgBackend): void;
  /** It is closed or lost. */
  forget(backend: PgBackend): void;
  /** Its running statement is to be canceled. */
  cancel(backend: PgBackend): void;
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
  readonly #pool: BackendPool;
  readonly #buffer: MessageBuffer;
  readonly #routes: Route[] = [];
  readonly leases = new Set<PgLease>();
  readonly pid: number;
  readonly secret: number;
  /** ParameterStatus values from startup. */
  readonly parameters: Map<string, string>;
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

  constructor(connection: PgConnection, pool: BackendPool) {
    this.#transport = connection.transport;
    this.#buffer = connection.buffer;
    this.pid = connection.pid;
    this.secret = connection.secret;
    this.parameters = connection.parameters;
    this.#pool = pool;
  }

  /** Routes whose replies are still due. */
  get depth(): number {
    return this.#routes.length;
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

  /** Nothing attached and nothing due: back to the pool (or closed, after a cancel); else room for waiters. */
  #settle(): void {
    if (this.pooled || this.closed) return;
    if (this.leases.size === 0 && this.#routes.length === 0) this.#pool.idle(this);
    else this.#pool.progressed(this);
  }

  #retire(): void {
    this.close();
    this.#pool.forget(this);
  }

  #sendCancel(): void {
    this.tainted = true;
    this.#pool.cancel(this);
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
    this.#pool.forget(this);
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
export class PgLease implements Lease {
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
