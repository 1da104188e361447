import pg from "pg";
import { PostgresDialect, type PostgresPool } from "kysely";
import { Buffer } from "node:buffer";
import net from "node:net";
import { DenoSocket } from "./deno_socket.ts";

const { types } = pg;
const asText = (v: string) => v;

/** The same value shapes as the PGlite driver (see pglite_driver.ts). */
const typeParsers = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    switch (oid) {
      case types.builtins.INT8:
        return (v: string) => Number(v);
      case types.builtins.DATE:
      case types.builtins.TIMESTAMP:
      case types.builtins.NUMERIC:
        return asText;
      default:
        return types.getTypeParser(oid, format);
    }
  },
};

/**
 * Distinct statements one connection keeps prepared; later ones run
 * unnamed. executeSql's texts are the clients', so a connection may fill up
 * with one-offs: a connection is replaced after MAX_USES checkouts (a query
 * or a transaction each), which bounds how long that lasts (a reconnect
 * costs a few milliseconds).
 */
const MAX_PREPARED = 100;
const MAX_USES = 50_000;

/**
 * Runs each statement with parameters as a named prepared statement, so
 * PostgreSQL parses and plans its text once per connection rather than on
 * every call: for selectRows that was a third of the backend's CPU.
 * Statements without parameters go by pg's simple protocol, which allows
 * several in one text, and stay as they are.
 */
function prepareStatements(client: pg.PoolClient): void {
  const names = new Map<string, string>();
  let prepared = 0;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((text: unknown, values?: unknown, callback?: unknown) => {
    if (typeof text === "string" && Array.isArray(values) && values.length > 0) {
      let name = names.get(text);
      if (!name && names.size < MAX_PREPARED) names.set(text, name = `lg_${++prepared}`);
      if (name) {
        // A table changed under the plan (a migration by another instance): PostgreSQL refuses
        // the old plan from now on, so the next call prepares the text afresh.
        const forget = (error: unknown) => {
          if ((error as { code?: string } | null)?.code === "0A000") names.delete(text);
        };
        if (typeof callback === "function") {
          return query({ name, text, values }, (error: unknown, result: unknown) => {
            forget(error);
            callback(error, result);
          });
        }
        return (query({ name, text, values }) as Promise<unknown>).catch((error) => {
          forget(error);
          throw error;
        });
      }
    }
    return query(text, values, callback);
  }) as typeof client.query;
}

/** Whether `error` means the connection itself is going: FATAL, 57P01–57P03, class 08, a socket error. */
function connectionLost(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return true;
  const { severity, code } = error as { severity?: string; code?: string };
  return severity === "FATAL" || /^(57P0[123]|08)/.test(code ?? "");
}

/**
 * A statement that failed because its connection is going leaves the client
 * unqueryable at once. The server's FATAL reaches the statement before the
 * socket closes; a client released in between went back to the pool and
 * was handed out once more, to fail with a reset. pg-pool drops a released
 * client that is not queryable (its `_queryable`, which pg's own client
 * clears once the socket is gone).
 */
function dropWhenLost(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const lost = (error: unknown) => {
    if (connectionLost(error)) (client as unknown as { _queryable: boolean })._queryable = false;
  };
  client.query = ((...args: unknown[]) => {
    const callback = args.at(-1);
    if (typeof callback === "function") {
      args[args.length - 1] = (error: unknown, result: unknown) => {
        if (error) lost(error);
        callback(error, result);
      };
      return query(...args);
    }
    const result = query(...args);
    if (result instanceof Promise) {
      return result.catch((error) => {
        lost(error);
        throw error;
      });
    }
    return result;
  }) as typeof client.query;
}

/** A pool of PostgreSQL connections for the app's own queries. */
export function createPostgresPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    types: typeParsers as pg.CustomTypesConfig,
    application_name: "labgate",
    options: "-c TimeZone=UTC -c DateStyle=ISO",
    maxUses: MAX_USES,
    // TLS stays on node:tls, which needs a node:net socket under it.
    stream: (config: { ssl?: unknown }) => config.ssl ? new net.Socket() : new DenoSocket(),
  });
  const lost = (error: Error) => {
    console.error(
      JSON.stringify({ level: "warn", message: "Database connection lost", error: error.message }),
    );
  };
  pool.on("connect", (client: pg.PoolClient) => {
    prepareStatements(client);
    dropWhenLost(client);
    // A connection the server ends (crash, restart, failover, pg_terminate_backend) while
    // checked out between statements emits "error" with no query to fail: without a listener
    // that throws and ends labgate. The client is then unqueryable, so the pool drops it when
    // it comes back; its holder's next statement fails.
    client.on("error", lost);
  });
  // The same for an idle connection: the pool replaces it on the next query.
  pool.on("error", lost);
  return pool;
}

export function postgresDialect(pool: pg.Pool | PostgresPool): PostgresDialect {
  return new PostgresDialect({ pool });
}

/**
 * `pool` with every connection it hands out running with statement_timeout
 * `ms`, for statements under a time limit of their own (HTTP reads). The
 * setting is the connection's own (`SET statement_timeout`), and it stays
 * after the connection goes back: a connection already at `ms` costs no
 * round trip at all, another takes one SET. So `pool` must serve nothing
 * but such statements (every checkout sets its limit first), apart from the
 * pool of the app's own statements, which have none.
 */
export function limitedPool(pool: pg.Pool, ms: number): PostgresPool {
  const limit = Math.max(1, Math.floor(ms));
  return {
    // What Kysely's driver reads off a pg pool besides connect().
    get options() {
      return pool.options;
    },
    get Client() {
      return (pool as unknown as { Client: unknown }).Client;
    },
    async connect() {
      const client = await pool.connect();
      if (sessionLimits.get(client) !== limit) {
        try {
          await client.query(`set statement_timeout = ${limit}`);
        } catch (error) {
          client.release(error as Error);
          throw error;
        }
        sessionLimits.set(client, limit);
      }
      return client;
    },
    // The connections are `pool`'s: it is ended with the database.
    end: () => Promise.resolve(),
  } as PostgresPool;
}

/** The statement_timeout (ms) each connection of a limited pool was last given. */
const sessionLimits = new WeakMap<pg.PoolClient, number>();

/**
 * Runs `copySql` (a COPY … FROM STDIN) on a pooled connection and sends
 * `rows`, in COPY's text format, as its data.
 */
export async function copyInPostgres(pool: pg.Pool, copySql: string, rows: string): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.query(new CopyIn(copySql, rows, (error) => error ? reject(error) : resolve()));
    });
  } catch (error) {
    // The server's refusal leaves the connection usable; anything else (a lost connection) does not.
    if (!(error instanceof pg.DatabaseError)) broken = error as Error;
    throw error;
  } finally {
    client.release(broken);
  }
}

/** What pg's client hands to the query it runs (a submittable, see pg's Query). */
interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/**
 * A COPY FROM STDIN for pg's client, which runs any object with `submit` as
 * a query and calls it back for each message of the reply. Settles once:
 * at the server's error or when the connection fails, else at ReadyForQuery.
 */
class CopyIn {
  readonly #text: string;
  readonly #rows: string;
  #done: ((error: Error | null) => void) | null;

  constructor(text: string, rows: string, done: (error: Error | null) => void) {
    this.#text = text;
    this.#rows = rows;
    this.#done = done;
  }

  #settle(error: Error | null): void {
    const done = this.#done;
    this.#done = null;
    done?.(error);
  }

  submit(connection: PgConnection): void {
    connection.query(this.#text);
  }

  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFromChunk(Buffer.from(this.#rows));
    connection.endCopyFrom();
  }

  handleError(error: Error): void {
    this.#settle(error);
  }

  handleReadyForQuery(): void {
    this.#settle(null);
  }

  // The other replies a query can get carry nothing a COPY FROM needs.
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}
