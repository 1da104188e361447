import type { Migration } from "kysely/migration";
import * as core from "./001_core.ts";
import * as sqlCatalog from "./002_sql_catalog.ts";

/** Every migration, by name; names sort in the order they run. */
export const migrations: Record<string, Migration> = {
  "001_core": core,
  "002_sql_catalog": sqlCatalog,
};
