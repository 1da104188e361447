import { PGlite, types as pgliteTypes } from "@electric-sql/pglite";
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
import { Mutex } from "./mutex.ts";

/**
 * Values come back the same from both backends: int8 as number (our ids fit),
 * date and timestamp-without-zone as their text, numeric as text.
 */
const parsers = {
  [pgliteTypes.INT8]: (v: string) => Number(v),
  [pgliteTypes.DATE]: (v: string) => v,
  [pgliteTypes.TIMESTAMP]: (v: string) => v,
  [pgliteTypes.NUMERIC]: (v: string) => v,
};

/** Opens (or creates) a PGlite database; `dataDir` undefined means in memory. */
export async function openPglite(
  options: { dataDir?: string; loadDataDir?: Blob } = {},
): Promise<PGlite> {
  const pg = new PGlite({
    dataDir: options.dataDir,
    loadDataDir: options.loadDataDir,
    parsers,
  });
  await pg.waitReady;
  return pg;
}

/** Kysely dialect over one PGlite instance; every connection holds `lock`. */
export class PgliteDialect implements Dialect {
  readonly #pg: PGlite;
  readonly #lock: Mutex;

  constructor(pg: PGlite, lock: Mutex) {
    this.#pg = pg;
    this.#lock = lock;
  }

  createAdapter() {
    return new PGliteAdapter();
  }
  createDriver(): Driver {
    return new PgliteDriver(this.#pg, this.#lock);
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
  readonly #pg: PGlite;
  readonly #lock: Mutex;
  readonly #releases = new WeakMap<DatabaseConnection, () => void>();

  constructor(pg: PGlite, lock: Mutex) {
    this.#pg = pg;
    this.#lock = lock;
  }

  async init() {
    await this.#pg.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#lock.acquire();
    const connection = new PgliteConnection(this.#pg);
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

class PgliteConnection implements DatabaseConnection {
  readonly #pg: PGlite;

  constructor(pg: PGlite) {
    this.#pg = pg;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#pg.query<R>(query.sql, query.parameters as unknown[], {
      rowMode: "object",
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
  pg: PGlite,
  lock: Mutex,
  copySql: string,
  rows: string,
): Promise<void> {
  const release = await lock.acquire();
  try {
    await pg.query(copySql, [], { blob: new Blob([rows]) });
  } finally {
    release();
  }
}
