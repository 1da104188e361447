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
  return new pg.Pool({
    connectionString: url,
    max,
    types: typeParsers as pg.CustomTypesConfig,
    application_name: "labgate",
  });
}

export function postgresDialect(pool: pg.Pool): PostgresDialect {
  return new PostgresDialect({ pool });
}
