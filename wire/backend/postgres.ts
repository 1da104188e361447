/**
 * The PostgreSQL engine: a pool of raw backend connections made with the
 * DATABASE_URL credentials. Each backend is set up for one folder scope
 * (role, search_path, read-only, timeout) and keeps it while idle, so a
 * client's statement is one round trip; a backend is re-set up for another
 * scope only when the pool is full.
 */
import { createHash } from "node:crypto";
import { ScramClientExchange } from "../../src/security/scram.ts";
import { concat, decodeText, encodeText, Reader, readInt32 } from "../bytes.ts";
import { ErrorField, SqlState, WireError } from "../errors.ts";
import { MessageBuffer } from "../message_buffer.ts";
import { AuthCode, BackendCode } from "../message_codes.ts";
import {
  cancelRequest,
  decodeFields,
  type ErrorFields,
  fieldOf,
  passwordMessage,
  query,
  saslInitialResponse,
  startupMessage,
} from "../messages.ts";
import { ConnTransport } from "../transport.ts";
import {
  type BackendOwner,
  BackendState,
  CAPTURE_SQL,
  capturedSettings,
  type Engine,
  type EngineInfo,
  type Lease,
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

/** One raw connection to PostgreSQL; it is also the Lease its holder uses. */
export class PgBackend implements Lease {
  readonly state = new BackendState(new StatementCache({ limit: 500, prefix: "lg_p" }));
  readonly #transport: ConnTransport;
  readonly #engine: PostgresEngine;
  readonly #buffer = new MessageBuffer({ maxLength: 0x7fffffff });
  #pending: Uint8Array[] = [];
  pid = 0;
  secret = 0;
  /** ParameterStatus values from startup. */
  readonly parameters = new Map<string, string>();
  owner: BackendOwner | null = null;
  closed = false;
  /** A cancel was sent: the backend is closed at release, so it cannot hit the next holder. */
  tainted = false;
  idleSince = 0;

  constructor(transport: ConnTransport, engine: PostgresEngine) {
    this.#transport = transport;
    this.#engine = engine;
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

  /** Reads replies for as long as the connection lives and hands them to the holder. */
  async readLoop(): Promise<void> {
    for (;;) {
      let batch = this.#buffer.nextBatch();
      while (!batch) {
        const chunk = await this.#transport.read();
        if (!chunk) return this.#lost();
        this.#buffer.push(chunk);
        batch = this.#buffer.nextBatch();
      }
      const wait = this.owner?.onBackendData(batch);
      if (wait) await wait;
    }
  }

  #lost(): void {
    this.closed = true;
    this.#transport.close();
    const owner = this.owner;
    this.owner = null;
    this.#engine.forget(this);
    owner?.onBackendLost(
      new WireError(SqlState.AdminShutdown, "The database session ended unexpectedly: reconnect", {
        severity: "FATAL",
      }),
    );
  }

  /**
   * Runs the door's own statements while nobody holds the backend, and
   * returns the reply once `expect` ReadyForQuery messages arrived.
   */
  run(messages: Uint8Array[], expect: number): Promise<ReturnType<typeof readReply>> {
    return new Promise((resolve) => {
      const parts: Uint8Array[] = [];
      let ready = 0;
      this.owner = {
        onBackendData: (bytes) => {
          parts.push(bytes);
          for (let at = 0; at < bytes.length; at += 1 + readInt32(bytes, at + 1)) {
            if (bytes[at] === BackendCode.ReadyForQuery) ready++;
          }
          if (ready === expect) {
            this.owner = null;
            resolve(readReply(concat(parts)));
          }
        },
        onBackendLost: (error) =>
          resolve({ rows: [], error: [[ErrorField.Message, error.message]] }),
      };
      this.#transport.write(concat(messages));
    });
  }

  write(bytes: Uint8Array): void {
    this.#pending.push(bytes);
  }

  flush(): void {
    if (!this.#pending.length) return;
    this.#transport.write(this.#pending.length === 1 ? this.#pending[0] : concat(this.#pending));
    this.#pending = [];
  }

  release(clean: boolean): void {
    this.#pending = [];
    this.#engine.release(this, clean);
  }

  cancel(): void {
    this.tainted = true;
    this.#engine.cancel(this);
  }

  close(): void {
    this.closed = true;
    this.#transport.close();
  }
}

interface Waiter {
  resolve(backend: PgBackend): void;
  reject(error: unknown): void;
}

export class PostgresEngine implements Engine {
  readonly kind = "postgres";
  readonly #target: PgTarget;
  readonly #size: () => number;
  readonly #all = new Set<PgBackend>();
  /** Idle backends, least recently released first. */
  #idle: PgBackend[] = [];
  #waiters: Waiter[] = [];
  #opening = 0;
  #info: EngineInfo | undefined;
  #closed = false;

  /** `size` is read at each acquire, so a settings change applies at once. */
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
    options: { signal?: AbortSignal; prefer?: Lease | null },
  ): Lease | Promise<Lease> {
    const ready = this.#closed ? undefined : this.#takeIdle(scope.key, options.prefer);
    if (!ready) return this.#acquireSlowly(scope, owner, options.signal);
    ready.owner = owner;
    return ready;
  }

  async #acquireSlowly(
    scope: ScopeSetup,
    owner: BackendOwner,
    signal?: AbortSignal,
  ): Promise<Lease> {
    if (this.#closed) throw new WireError(SqlState.AdminShutdown, "The SQL door is shutting down");
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
    backend.owner = owner;
    return backend;
  }

  /** An idle backend already set up for `key`: the preferred one, else the most recent. */
  #takeIdle(key: string, prefer?: Lease | null): PgBackend | undefined {
    const idle = this.#idle;
    let index = idle.length - 1;
    if (idle[index] !== prefer || idle[index]?.state.scopeKey !== key) {
      index = prefer ? idle.indexOf(prefer as PgBackend) : -1;
      if (index < 0 || idle[index].state.scopeKey !== key) {
        index = idle.findLastIndex((b) => b.state.scopeKey === key);
      }
    }
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

  /** Back to the pool, to a waiter, or closed when not clean. */
  release(backend: PgBackend, clean: boolean): void {
    backend.owner = null;
    if (!clean || backend.tainted || backend.closed || this.#closed) {
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
    return Promise.resolve();
  }
}
