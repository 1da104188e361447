import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PGliteAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from "kysely";
import { type PgliteClient, StatementStopped } from "./pglite_client.ts";

/** The app's own statement limit on the embedded database, changeable while open. */
export interface AppLimit {
  /** Infinity while migrating. */
  statementTimeoutMs: number;
}

/** Kysely dialect over the embedded database; every connection holds its lock. */
export class PgliteDialect implements Dialect {
  readonly #pg: PgliteClient;
  readonly #limit: AppLimit;

  constructor(pg: PgliteClient, limit: AppLimit) {
    this.#pg = pg;
    this.#limit = limit;
  }

  createAdapter() {
    return new PGliteAdapter();
  }
  createDriver(): Driver {
    return new PgliteDriver(this.#pg, this.#limit);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  // deno-lint-ignore no-explicit-any
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
}

class PgliteDriver implements Driver {
  readonly #pg: PgliteClient;
  readonly #limit: AppLimit;
  readonly #releases = new WeakMap<DatabaseConnection, () => void>();

  constructor(pg: PgliteClient, limit: AppLimit) {
    this.#pg = pg;
    this.#limit = limit;
  }

  async init() {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await acquireForApp(this.#pg);
    const connection = new PgliteConnection(this.#pg, this.#limit);
    this.#releases.set(connection, release);
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection) {
    await connection.executeQuery(CompiledQuery.raw("begin"));
  }
  async commitTransaction(connection: DatabaseConnection) {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }
  async rollbackTransaction(connection: DatabaseConnection) {
    await connection.executeQuery(CompiledQuery.raw("rollback"));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    this.#releases.get(connection)?.();
    this.#releases.delete(connection);
    return Promise.resolve();
  }

  async destroy() {
    if (!this.#pg.closed) await this.#pg.close();
  }
}

/**
 * Waits for the one session for the app's own work (its queries, a backup);
 * resolves to its release. Waiting longer than the
 * client's `preemptAfterMs` (LABGATE_EMBEDDED_PREEMPT_MS) behind a SQL-door
 * statement stops that statement, and behind a SQL-door session holding the
 * session idle ends that session: the app must not wait on one client.
 */
async function acquireForApp(pg: PgliteClient): Promise<() => void> {
  const lock = pg.lock;
  const pending = lock.acquire();
  let withdraw: (() => void) | undefined;
  const timer = lock.pending > 1
    ? setTimeout(
      () => (withdraw = pg.preempt(preempted(pg.preemptAfterMs))),
      pg.preemptAfterMs,
    )
    : undefined;
  const release = await pending;
  clearTimeout(timer);
  withdraw?.();
  return release;
}

/** Runs `work` holding the session, as the app (`acquireForApp()`). */
export async function runAsApp<T>(pg: PgliteClient, work: () => Promise<T>): Promise<T> {
  const release = await acquireForApp(pg);
  try {
    return await work();
  } finally {
    release();
  }
}

/** What a SQL-door client whose statement was stopped for the app is told. */
function preempted(waitedMs: number): StatementStopped {
  return new StatementStopped(
    "canceling statement: labgate's web side needed the embedded database, and it waited " +
      `${waitedMs} ms for this statement`,
    {
      restarted: true,
      hint: "The embedded database runs one statement at a time, and the web side goes first: " +
        "run long queries on a labgate that uses PostgreSQL (DATABASE_URL), or retry when it is quiet",
    },
  );
}

class PgliteConnection implements DatabaseConnection {
  readonly #pg: PgliteClient;
  readonly #limit: AppLimit;

  constructor(pg: PgliteClient, limit: AppLimit) {
    this.#pg = pg;
    this.#limit = limit;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#pg.query<R>(query.sql, query.parameters as unknown[], {
      timeoutMs: this.#limit.statementTimeoutMs,
    });
    return {
      rows: result.rows,
      numAffectedRows: result.affectedRows === undefined ? undefined : BigInt(result.affectedRows),
    };
  }

  // deno-lint-ignore require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("Streaming is not supported on the embedded database");
  }
}

/**
 * Runs `copySql` (a COPY … FROM '/dev/blob', PGlite's stand-in for STDIN)
 * with `rows`, in COPY's text format, as its data.
 */
export async function copyInPglite(
  pg: PgliteClient,
  limit: AppLimit,
  copySql: string,
  rows: string,
): Promise<void> {
  // Not through acquireForApp(): the SQL door's own statements are audited, so stopping what
  // the door runs for their entries would stop every door statement longer than the preempt
  // delay. The wait is bounded by the door's limits instead: a statement's time limit, and the
  // 5 s an embedded lease may sit idle (wire/mod.ts).
  // The audit log's: written down to a smaller reserve of free space than the data's.
  await pg.lock.run(() =>
    pg.query(copySql, [], {
      blob: new Blob([rows]),
      essential: true,
      timeoutMs: limit.statementTimeoutMs,
    })
  );
}
