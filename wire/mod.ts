/**
 * The SQL door: a PostgreSQL wire-protocol server in front of labgate's
 * database. It listens while the `sql_door` setting says so (re-listening
 * when the port changes), upgrades connections to TLS with whatever
 * certificate `getTlsMaterial` returns at that moment, counts connections
 * against the caps, gives sign-ins a deadline, keeps each user to a share of
 * the backends, routes cancel requests, and closes idle connections.
 */
import tls from "node:tls";
import { sha256Hex } from "../src/security/secrets.ts";
import type { Services } from "../src/services.ts";
import { type SqlDoorSettings, sqlDoorSettings } from "../src/doors/sql/settings.ts";
import type { Engine, EngineInfo } from "./backend/mod.ts";
import { PgliteEngine } from "./backend/pglite.ts";
import { PostgresEngine } from "./backend/postgres.ts";
import { fatal, SqlState, WireError } from "./protocol/errors.ts";
import { errorResponse } from "./protocol/messages.ts";
import { PinShares } from "./pin_shares.ts";
import { Revocations } from "./revocation.ts";
import { Session } from "./session.ts";
import type { DoorContext, DoorSession } from "./session_state.ts";
import { ConnectionCounts, type DoorThread } from "./door_threads.ts";
import { type SignIn, SignIns } from "./sign_ins.ts";
import { negotiate, type Negotiated } from "./startup.ts";
import { ConnTransport } from "./protocol/transport.ts";
import { StatementTimes } from "./statement_times.ts";

export interface TlsMaterial {
  key: string;
  cert: string;
}

interface SqlDoorOptions {
  /** Address to listen on; all interfaces when absent. */
  hostname?: string;
  /** Overrides the port setting (tests pass 0 for an ephemeral port). */
  port?: number;
  /** The certificate and key to offer now, or null to answer SSLRequest with 'N'. */
  getTlsMaterial: () => Promise<TlsMaterial | null>;
  log?: (message: string) => void;
  /** One of several door threads on the same port (see door_threads.ts). */
  thread?: DoorThread;
}

/** Where a thread passes on cancel requests for connections it does not hold. */
const CANCEL_CHANNEL = "labgate-sql-door-cancel";

/** What instances send each other for a cancel instead of its key: SHA-256 of `pid:secret`. */
function cancelCheck(pid: number, secret: number): Promise<string> {
  return sha256Hex(`${pid}:${secret}`);
}

/** How long a PGlite lease may sit idle: meanwhile the app and every other client wait. */
const PGLITE_MAX_IDLE_LEASE_MS = 5_000;
/** Idle PostgreSQL backends are closed after this long. */
const BACKEND_IDLE_MS = 5 * 60_000;

export class SqlDoor {
  readonly #svc: Services;
  readonly #options: SqlDoorOptions;
  readonly #engine: Engine;
  readonly #statementTimes = new StatementTimes();
  readonly #log: (message: string) => void;
  #settings: SqlDoorSettings;
  #info: Promise<EngineInfo> | undefined;
  #listener: Deno.Listener | null = null;
  #listening = "";
  readonly #sessions = new Set<DoorSession>();
  /** Connections being served, so close() can wait for them to finish. */
  readonly #running = new Set<Promise<void>>();
  readonly #byPid = new Map<number, DoorSession>();
  readonly #counts: ConnectionCounts;
  readonly #cancels: BroadcastChannel | null = null;
  readonly #scopeKeys = new Map<string, string>();
  readonly #signIns = new SignIns();
  readonly #pins: PinShares;
  /** Statements each user is running: one share per connection with a statement under way. */
  readonly #statements: PinShares;
  readonly #revocations: Revocations;
  /** Threads hand out pids of their own residue (pid % threads), so a pid names one thread. */
  readonly #pidStep: number;
  readonly #pidResidue: number;
  #nextPid: number;
  #tls: (TlsMaterial & { context: tls.SecureContext }) | null = null;
  #sweeper: ReturnType<typeof setInterval>;
  #closed = false;

  private constructor(svc: Services, options: SqlDoorOptions, settings: SqlDoorSettings) {
    this.#svc = svc;
    this.#options = options;
    this.#settings = settings;
    this.#log = options.log ?? (() => {});
    const engine = svc.database.engine;
    const threads = options.thread?.count ?? 1;
    // The settings are for the whole door: each thread has its share of the pool, and each user a
    // share of each thread's. PGlite is one session.
    const share = (whole: number) => engine.kind === "pglite" ? 1 : Math.ceil(whole / threads);
    const poolSize = () => share(this.#settings.backendConnections);
    this.#engine = engine.kind === "pglite"
      ? new PgliteEngine(engine.pglite, engine.lock, {
        onPreempted: (owner, error) => this.#preempted(owner as Session, error),
      })
      : new PostgresEngine(engine.url, { size: poolSize });
    this.#pins = new PinShares({
      perUser: () => share(this.#settings.maxPinnedBackendsPerUser),
      // One backend stays for sign-ins and single statements (PGlite has only the one).
      total: () => Math.max(1, poolSize() - 1),
      waitMs: () => this.#settings.pinWaitSeconds * 1000,
    });
    this.#statements = new PinShares({
      // PGlite runs one statement at a time anyway: the setting bounds how many wait their turn.
      perUser: () =>
        engine.kind === "pglite"
          ? this.#settings.maxStatementsPerUser
          : share(this.#settings.maxStatementsPerUser),
      total: () => Infinity,
      waitMs: () => this.#settings.statementWaitSeconds * 1000,
      exhausted: (held, perUser, waitMs) =>
        new WireError(
          SqlState.TooManyConnections,
          `Your connections are running ${held} statements at once, and one user may run ` +
            `${perUser} through the SQL door (setting maxStatementsPerUser): none ended within ` +
            `${waitMs / 1000} s`,
          {
            hint: "Run fewer queries in parallel, or wait for the running ones. An administrator " +
              "can change the sql_door settings maxStatementsPerUser and statementWaitSeconds.",
          },
        ),
    });
    this.#revocations = new Revocations(svc, () => this.#sessions, this.#log);
    this.#reportMetrics();
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
    Deno.unrefTimer(this.#sweeper as unknown as number);
    const thread = options.thread;
    this.#counts = new ConnectionCounts(thread?.counts);
    this.#pidStep = thread?.count ?? 1;
    this.#pidResidue = thread?.index ?? 0;
    this.#nextPid = (1000 + Math.floor(Math.random() * 100_000)) * this.#pidStep +
      this.#pidResidue;
    if (thread && thread.count > 1) {
      this.#cancels = new BroadcastChannel(CANCEL_CHANNEL);
      this.#cancels.onmessage = (event: MessageEvent<{ pid: number; secret: number }>) =>
        this.#cancel(event.data.pid, event.data.secret, false);
    }
  }

  /** Starts the door; it listens once the settings enable it. */
  static async start(svc: Services, options: SqlDoorOptions): Promise<SqlDoor> {
    const door = new SqlDoor(svc, options, await svc.settings.get(sqlDoorSettings));
    svc.invalidate.subscribe((event) => {
      if (event.kind === "cancel" && !door.#closed) void door.#remoteCancel(event.pid, event.check);
    });
    svc.settings.onChange((key) => {
      // A change made on any instance arrives here (svc.invalidate), so all re-listen.
      if (key === null || key === sqlDoorSettings.key) void door.#reload();
    });
    door.#apply();
    return door;
  }

  /** A session ended for the web side (its transaction held the embedded database). */
  #preempted(session: Session, error: WireError): void {
    this.#log(`SQL door: connection ${session.pid} ended: ${error.message}`);
    session.preempted(error);
  }

  /** This thread's connections and backend pool at each scrape (the main thread's /metrics). */
  #reportMetrics(): void {
    const metrics = this.#svc.metrics.registry;
    metrics.gauge(
      "labgate_sql_connections",
      "SQL-door client connections open (logged in or not)",
      () => [{ value: this.#sessions.size }],
    );
    metrics.gauge("labgate_sql_backends", "SQL-door backend connections by state", () => {
      const pool = this.#engine.pool();
      return [
        { labels: { state: "open" }, value: pool.open },
        { labels: { state: "busy" }, value: pool.busy },
        { labels: { state: "waiting_clients" }, value: pool.waiting },
      ];
    });
  }

  /** Client connections open now, logged in or not. */
  get connections(): number {
    return this.#sessions.size;
  }

  /** The port it listens on, or null while switched off. */
  get port(): number | null {
    return this.#listener ? (this.#listener.addr as Deno.NetAddr).port : null;
  }

  async #reload(): Promise<void> {
    if (this.#closed) return;
    this.#settings = await this.#svc.settings.get(sqlDoorSettings);
    this.#apply();
  }

  #apply(): void {
    const settings = this.#settings;
    if (!settings.enabled) {
      this.#stopListening();
      for (const session of this.#sessions) {
        session.end(
          fatal(SqlState.AdminShutdown, "The SQL door was switched off by an administrator"),
        );
      }
      return;
    }
    const hostname = this.#options.hostname ?? "0.0.0.0";
    const port = this.#options.port ?? settings.port;
    const where = `${hostname}:${port}`;
    if (this.#listener && this.#listening === where) return;
    this.#stopListening();
    try {
      this.#listener = Deno.listen({
        hostname,
        port,
        reusePort: this.#options.thread !== undefined,
      });
    } catch (error) {
      this.#log(`labgate: SQL door cannot listen on ${where}: ${(error as Error).message}`);
      return;
    }
    this.#listening = where;
    this.#svc.sqlDoorListening.port = this.port;
    this.#log(`labgate: SQL door listening on ${hostname}:${this.port}`);
    void this.#accept(this.#listener);
  }

  #stopListening(): void {
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    this.#listener = null;
    this.#listening = "";
    this.#svc.sqlDoorListening.port = null;
  }

  async #accept(listener: Deno.Listener): Promise<void> {
    try {
      for await (const conn of listener) {
        const running = this.#connection(conn).finally(() => this.#running.delete(running));
        this.#running.add(running);
      }
    } catch {
      // the listener was closed
    }
  }

  async #connection(conn: Deno.Conn): Promise<void> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const clientAddr = remote.hostname ?? null;
    (conn as Deno.TcpConn).setNoDelay(true);
    const signIn = this.#signIns.begin(clientAddr ?? "", {
      limit: this.#settings.maxUnauthenticatedPerAddress,
      timeoutMs: this.#settings.startupTimeoutSeconds * 1000,
    });
    if (!signIn) {
      const transport = new ConnTransport(conn);
      transport.write(errorResponse(fatal(
        SqlState.TooManyConnections,
        `Too many connections from ${clientAddr} are signing in to the SQL door: try again later`,
      )));
      return transport.end();
    }
    // Before a StartupMessage there is nobody to tell: PostgreSQL closes such sockets silently too.
    signIn.onTimeout = () => conn.close();
    try {
      const negotiated = await negotiate(conn, () => this.#tlsContext());
      if (!negotiated) return;
      if (negotiated.kind === "cancel") {
        return this.#cancel(negotiated.pid, negotiated.secret, true);
      }
      const { transport } = negotiated;
      if (this.#closed || !this.#counts.open(this.#settings.maxConnections)) {
        transport.write(errorResponse(fatal(
          SqlState.TooManyConnections,
          "Too many connections to the SQL door: try again later or close idle connections",
        )));
        return transport.end();
      }
      try {
        await this.#serve(negotiated, clientAddr, signIn);
      } finally {
        this.#counts.close();
      }
    } finally {
      signIn.end();
    }
  }

  /** A cancel request: for a connection of this thread, or passed on to the other threads. */
  #cancel(pid: number, secret: number, passOn: boolean): void {
    const session = this.#byPid.get(pid);
    if (session) {
      if (session.secret === secret) session.cancel();
    } else if (passOn && pid % this.#pidStep !== this.#pidResidue) {
      this.#cancels?.postMessage({ pid, secret });
    } else if (passOn) {
      // Not this instance's: another on the same database may serve it (behind a load balancer).
      void cancelCheck(pid, secret).then((check) =>
        this.#svc.invalidate.publish({ kind: "cancel", pid, check })
      ).catch((error) => this.#log(`labgate: cancel not passed on: ${(error as Error).message}`));
    }
  }

  /** A cancel passed on by another instance: cancels the session if it is here and the key fits. */
  async #remoteCancel(pid: number, check: string): Promise<void> {
    const session = this.#byPid.get(pid);
    if (session && await cancelCheck(pid, session.secret) === check) session.cancel();
  }

  async #serve(
    negotiated: Extract<Negotiated, { kind: "startup" }>,
    clientAddr: string | null,
    signIn: SignIn,
  ): Promise<void> {
    const { transport } = negotiated;
    let info: EngineInfo;
    try {
      this.#info ??= this.#engine.info();
      info = await this.#info;
    } catch (error) {
      this.#info = undefined;
      transport.write(errorResponse(
        error instanceof WireError
          ? error
          : fatal(SqlState.CannotConnectNow, "The database is not available: try again later"),
      ));
      return transport.end();
    }
    const session = new Session(this.#context(info), transport, {
      params: negotiated.params,
      minor: negotiated.minor,
      buffer: negotiated.buffer,
      clientAddr,
      signedIn: () => signIn.end(),
    });
    signIn.onTimeout = () =>
      session.end(fatal(SqlState.QueryCanceled, "canceling authentication due to timeout"));
    this.#sessions.add(session);
    await session.run();
  }

  #context(info: EngineInfo): DoorContext {
    return {
      svc: this.#svc,
      engine: this.#engine,
      info,
      statementTimes: this.#statementTimes,
      pins: this.#pins,
      statements: this.#statements,
      revocations: this.#revocations,
      settings: () => this.#settings,
      maxIdleLeaseMs: this.#engine.kind === "pglite" ? PGLITE_MAX_IDLE_LEASE_MS : Infinity,
      scopeKey: (setupSql) => {
        let key = this.#scopeKeys.get(setupSql);
        if (!key) {
          key = `s${this.#scopeKeys.size + 1}`;
          this.#scopeKeys.set(setupSql, key);
        }
        return key;
      },
      admit: (session, userId) => this.#admit(session, userId),
      leave: (session) => this.#leave(session),
      log: this.#log,
    };
  }

  #admit(session: DoorSession, userId: number): { pid: number; secret: number } | WireError {
    const count = this.#counts.addUser(userId, this.#settings.maxConnectionsPerUser);
    if (count !== null) {
      return fatal(
        SqlState.TooManyConnections,
        `You have ${count} connections to the SQL door, the most allowed: close some and retry`,
      );
    }
    const pid = this.#nextPid;
    this.#nextPid = pid >= 0x7ffffff0 - this.#pidStep
      ? 1000 * this.#pidStep + this.#pidResidue
      : pid + this.#pidStep;
    const secret = crypto.getRandomValues(new Int32Array(1))[0];
    this.#byPid.set(pid, session);
    return { pid, secret };
  }

  #leave(session: DoorSession): void {
    this.#sessions.delete(session);
    if (session.pid && this.#byPid.get(session.pid) === session) {
      this.#byPid.delete(session.pid);
      this.#counts.removeUser(session.userId!);
    }
  }

  /** The TLS context for a new connection, rebuilt when the certificate changed. */
  async #tlsContext(): Promise<tls.SecureContext | null> {
    let material: TlsMaterial | null;
    try {
      material = await this.#options.getTlsMaterial();
    } catch (error) {
      this.#log(`labgate: SQL door has no TLS certificate: ${(error as Error).message}`);
      return null;
    }
    if (!material) return null;
    if (this.#tls?.cert !== material.cert || this.#tls.key !== material.key) {
      try {
        this.#tls = { ...material, context: tls.createSecureContext(material) };
      } catch (error) {
        this.#log(`labgate: SQL door cannot use its TLS certificate: ${(error as Error).message}`);
        return null;
      }
    }
    return this.#tls.context;
  }

  #sweep(): void {
    const now = performance.now();
    for (const session of this.#sessions) session.checkIdle(now, this.#settings);
    this.#engine.sweep(BACKEND_IDLE_MS);
  }

  /** Stops listening, ends every connection and closes the backends. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#cancels?.close();
    this.#stopListening();
    for (const session of this.#sessions) {
      session.end(fatal(SqlState.AdminShutdown, "The SQL door is shutting down"));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running]),
      new Promise((resolve) => timer = setTimeout(resolve, 5000)),
    ]);
    clearTimeout(timer);
    await this.#engine.close();
  }
}

export function startSqlDoor(svc: Services, options: SqlDoorOptions): Promise<SqlDoor> {
  return SqlDoor.start(svc, options);
}
