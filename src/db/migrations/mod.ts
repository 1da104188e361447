import type { Migration } from "kysely/migration";
import * as core from "./001_core.ts";
import * as tls from "./003_tls.ts";
import * as keys from "./004_keys.ts";
import * as tokens from "./005_tokens.ts";
import * as remoteLogin from "./006_remote_login.ts";
import * as containerPathIndex from "./008_container_path_index.ts";
import * as auditIndexes from "./010_audit_indexes.ts";
import * as loginThrottle from "./012_login_throttle.ts";
import * as columnPhi from "./015_column_phi.ts";
import * as statementTimeouts from "./017_statement_timeouts.ts";

/**
 * A migration whose work a later one redoes: it stays under its name, which
 * databases that ran it have on record, and does nothing on new ones.
 */
const superseded: Migration = { up: () => Promise.resolve() };

/**
 * Every migration, by name; names sort in the order they run. The names
 * `*_sql_catalog` once installed the SQL door's shadow catalog; the sandbox
 * now installs it itself after the migrations, whenever it changes
 * (`ensureShadowCatalog()` in src/sql/catalog.ts, called by
 * `assembleServices()`), and they stay for the databases that have them on
 * record.
 */
export const migrations: Record<string, Migration> = {
  "001_core": core,
  "002_sql_catalog": superseded,
  "003_tls": tls,
  "004_keys": keys,
  "005_tokens": tokens,
  "006_remote_login": remoteLogin,
  "007_sql_catalog": superseded,
  "008_container_path_index": containerPathIndex,
  "009_sql_catalog": superseded,
  "010_audit_indexes": auditIndexes,
  "012_login_throttle": loginThrottle,
  "013_sql_catalog": superseded,
  "014_sql_catalog": superseded,
  "015_column_phi": columnPhi,
  "017_statement_timeouts": statementTimeouts,
  "018_sql_catalog": superseded,
};
