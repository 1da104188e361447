import pg from "pg";
import { PostgresDialect } from "kysely";

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

/** The part of a Node socket that pg corks around a query's messages. */
interface CorkableSocket {
  cork(): void;
  uncork(): void;
  write(chunk: Uint8Array, ...rest: unknown[]): boolean;
}

/**
 * pg corks the socket around the Parse/Bind/Describe/Execute/Sync messages
 * of every query with parameters, and Deno's Node layer turns the uncork
 * into a `writev` that cost ~0.2 ms of CPU per query in the HTTP bench —
 * more than the rest of a selectRows call. Holding the messages and
 * writing them joined, once, costs a copy of a few hundred bytes.
 */
function joinCorkedWrites(socket: CorkableSocket): void {
  const write = socket.write.bind(socket);
  let held: Uint8Array[] | null = null;
  socket.cork = () => {
    held ??= [];
  };
  socket.uncork = () => {
    const chunks = held;
    held = null;
    if (!chunks?.length) return;
    const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of chunks) {
      joined.set(chunk, at);
      at += chunk.length;
    }
    write(joined);
  };
  socket.write = (chunk, ...rest) => {
    if (held && rest.length === 0) {
      held.push(chunk);
      return true;
    }
    return write(chunk, ...rest);
  };
}

/** A pool of PostgreSQL connections for the app's own queries. */
export function createPostgresPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    types: typeParsers as pg.CustomTypesConfig,
    application_name: "labgate",
    options: "-c TimeZone=UTC -c DateStyle=ISO",
  });
  pool.on("connect", (client: pg.PoolClient) => {
    joinCorkedWrites(
      (client as unknown as { connection: { stream: CorkableSocket } }).connection.stream,
    );
  });
  // An idle connection dropped by the server (restart, failover) must not
  // crash labgate: the pool replaces it on the next query.
  pool.on("error", (error: Error) => {
    console.error(
      JSON.stringify({
        level: "warn",
        message: "Idle database connection lost",
        error: error.message,
      }),
    );
  });
  return pool;
}

export function postgresDialect(pool: pg.Pool): PostgresDialect {
  return new PostgresDialect({ pool });
}
