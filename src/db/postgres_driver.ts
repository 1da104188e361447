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

/** A pool of PostgreSQL connections for the app's own queries. */
export function createPostgresPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    types: typeParsers as pg.CustomTypesConfig,
    application_name: "labgate",
    options: "-c TimeZone=UTC -c DateStyle=ISO",
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
