import { Kysely, sql } from "kysely";
import { DEFAULT_MIGRATION_TABLE, Migrator } from "kysely/migration";
import type pg from "pg";
import { type DataDirLock, lockDataDir } from "./data_dir_lock.ts";
import { migrations } from "./migrations/mod.ts";
import { Mutex } from "./mutex.ts";
import { type Notifications, postgresNotifications } from "./notifications.ts";
import { PgliteClient } from "./pglite_client.ts";
import { type AppLimit, copyInPglite, PgliteDialect, runAsApp } from "./pglite_driver.ts";
import {
  copyInPostgres,
  createPostgresPool,
  limitedPool,
  postgresDialect,
} from "./postgres_driver.ts";
import type { Schema } from "./schema.ts";

export type { Schema } from "./schema.ts";
export { Mutex } from "./mutex.ts";
export type { Listener, Notifications } from "./notifications.ts";

/** Labgate's own tables live here; list data lives in one schema per folder. */
export const APP_SCHEMA = "lg_app";

/** The engine under Kysely, for the parts (SQL door) that speak to it directly. */
type Engine =
  | { kind: "pglite"; pglite: PgliteClient; lock: Mutex }
  | { kind: "postgres"; url: string; pool: pg.Pool };

/** One open labgate database: Kysely scoped to `lg_app`, plus the engine. */
export interface Database {
  readonly kind: Engine["kind"];
  readonly engine: Engine;
  /** Queries on labgate's own tables. */
  readonly db: Kysely<Schema>;
  /** Kysely without a default schema, for per-folder list tables. */
  readonly root: Kysely<Schema>;
  /** Short id that makes this database's role names unique on the cluster. */
  readonly installId: string;
  /**
   * LISTEN/NOTIFY between the instances sharing this PostgreSQL database;
   * null on the embedded database, which serves one instance only.
   */
  readonly notifications: Notifications | null;
  /**
   * Appends rows to a table of labgate's own with COPY: `rows` in COPY's
   * text format (columns tab-separated in the order of `columns`, \N for
   * null, one row a line). The cheapest way in: no statement to parse or
   * plan and no parameters, for the audit log's steady stream of entries.
   */
  copyIn(table: string, columns: readonly string[], rows: string): Promise<void>;
  /**
   * `root` with each statement limited to `ms` instead of the app's limit (a
   * caller's own statement limit). On PostgreSQL its statements run on
   * connections of their own whose statement_timeout is set per connection
   * (`limitedPool()`), so a read at the limit its connection already has
   * costs no extra round trip; on the embedded database, on a handle with
   * that limit.
   */
  readonly limitedRoot: (ms: number) => Kysely<Schema>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** PostgreSQL URL; when absent, the embedded PGlite database is used. */
  url?: string;
  /** PGlite data directory; absent means in memory. */
  dataDir?: string;
  /** PGlite data directory snapshot to start from (tests). */
  loadDataDir?: Blob;
  /** Pool size for the app's own PostgreSQL connections. */
  poolSize?: number;
  /**
   * The embedded database's limit on each of the app's own statements
   * (migrations have none); PostgreSQL's is its statement_timeout.
   */
  appStatementTimeoutMs?: number;
  /** How long the app waits behind a SQL-door statement on the embedded database (see PgliteClient). */
  preemptAfterMs?: number;
  /** The embedded database's shared_buffers (DEFAULT_SHARED_BUFFERS_MB). */
  sharedBuffersMb?: number;
}

/** The app's own statements on the embedded database stop after this long (an import's included). */
const APP_STATEMENT_TIMEOUT_MS = 120_000;

/** Opens the database, runs pending migrations and returns the handle. */
export async function openDatabase(options: OpenOptions = {}): Promise<Database> {
  let engine: Engine;
  let root: Kysely<Schema>;
  let notifications: Notifications | null = null;
  let dataDirLock: DataDirLock | null = null;
  const appLimit: AppLimit = { statementTimeoutMs: Infinity };
  let limitedRoot: (ms: number) => Kysely<Schema>;
  // Ended with the database: the PostgreSQL connections of the time-limited reads.
  let limitedPg: pg.Pool | null = null;
  // One Kysely per limit in use (few: the site's, and the users' and keys' own).
  const limited = new Map<number, Kysely<Schema>>();
  const perLimit = (make: (ms: number) => Kysely<Schema>) => (ms: number) => {
    let kysely = limited.get(ms);
    if (!kysely) {
      if (limited.size >= 100) limited.clear();
      kysely = make(ms);
      limited.set(ms, kysely);
    }
    return kysely;
  };
  if (options.url) {
    const pool = createPostgresPool(options.url, options.poolSize);
    engine = { kind: "postgres", url: options.url, pool };
    root = new Kysely<Schema>({ dialect: postgresDialect(pool) });
    notifications = postgresNotifications(options.url, pool);
    // Apart from `pool`: its connections keep the statement_timeout of their last read.
    const reads = limitedPg = createPostgresPool(options.url, options.poolSize);
    limitedRoot = perLimit((ms) =>
      new Kysely<Schema>({ dialect: postgresDialect(limitedPool(reads, ms)) })
    );
  } else {
    if (options.dataDir) dataDirLock = await lockDataDir(options.dataDir);
    let pglite: PgliteClient;
    try {
      pglite = await PgliteClient.open({
        dataDir: options.dataDir,
        loadDataDir: options.loadDataDir,
        preemptAfterMs: options.preemptAfterMs,
        sharedBuffersMb: options.sharedBuffersMb,
      });
    } catch (error) {
      dataDirLock?.release();
      throw error;
    }
    engine = { kind: "pglite", pglite, lock: pglite.lock };
    root = new Kysely<Schema>({ dialect: new PgliteDialect(pglite, appLimit) });
    // They share the one client and its lock; never destroyed apart, so closing `root` closes
    // them all.
    limitedRoot = perLimit((ms) =>
      new Kysely<Schema>({ dialect: new PgliteDialect(pglite, { statementTimeoutMs: ms }) })
    );
  }
  const close = async () => {
    await notifications?.close();
    await root.destroy();
    await limitedPg?.end();
    dataDirLock?.release();
  };
  try {
    await migrate(root);
    if (engine.kind === "pglite" && engine.pglite.created) await engine.pglite.renew();
    appLimit.statementTimeoutMs = options.appStatementTimeoutMs ?? APP_STATEMENT_TIMEOUT_MS;
    const db = root.withSchema(APP_SCHEMA);
    const row = await db.selectFrom("settings").select("value").where("key", "=", "install_id")
      .executeTakeFirstOrThrow();
    return {
      kind: engine.kind,
      engine,
      db,
      root,
      installId: row.value as string,
      notifications,
      copyIn: (table, columns, rows) => {
        const target = `${APP_SCHEMA}.${table} (${columns.join(", ")})`;
        return engine.kind === "postgres"
          ? copyInPostgres(engine.pool, `copy ${target} from stdin`, rows)
          : copyInPglite(engine.pglite, appLimit, `copy ${target} from '/dev/blob'`, rows);
      },
      limitedRoot,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The embedded database's data dir as PGlite's tar.gz archive, taken under
 * the engine lock: consistent, and restorable by `deno task restore`. It
 * waits for the lock as the app's queries do: a SQL-door client holding the
 * session is stopped after LABGATE_EMBEDDED_PREEMPT_MS.
 */
export async function embeddedArchive(database: Database): Promise<Blob> {
  if (database.engine.kind !== "pglite") {
    throw new Error(
      "Only the embedded database has a data-dir archive: back up PostgreSQL with pg_dump",
    );
  }
  const { pglite } = database.engine;
  return await runAsApp(pglite, () => pglite.dumpDataDir("gzip"));
}

function migrator(root: Kysely<Schema>): Migrator {
  return new Migrator({
    db: root,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableSchema: APP_SCHEMA,
  });
}

/**
 * Names of the migrations this version has that the database has not run
 * (for /readyz, and at each start). Read with two light queries: Kysely's
 * migrator would first introspect every table in the catalog, which costs
 * about 0.1 s on the embedded database.
 */
export async function pendingMigrations(root: Kysely<Schema>): Promise<string[]> {
  const table = `${APP_SCHEMA}.${DEFAULT_MIGRATION_TABLE}`;
  const { rows: [found] } = await sql<{ present: boolean }>`
    select pg_catalog.to_regclass(${table}) is not null as present`.execute(root);
  const recorded = found.present
    ? (await sql<{ name: string }>`select name from ${sql.table(table)}`.execute(root)).rows
    : [];
  const run = new Set(recorded.map((row) => row.name));
  return Object.keys(migrations).filter((name) => !run.has(name)).sort();
}

/** Runs every pending migration; safe to call at every start. */
export async function migrate(root: Kysely<Schema>): Promise<void> {
  if ((await pendingMigrations(root)).length === 0) return;
  await sql`create schema if not exists lg_app`.execute(root);
  const { error, results } = await migrator(root).migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error) {
    const name = failed ? ` ${failed.migrationName}` : "";
    throw new Error(`Database migration${name} failed: ${(error as Error).message ?? error}`);
  }
}
