/**
 * Runs a test against every backend: embedded PGlite always, and the
 * PostgreSQL server named by TEST_DATABASE_URL (or DATABASE_URL) when set.
 * Each test gets a database of its own: a PGlite instance restored from a
 * migrated snapshot, or a fresh PostgreSQL database that is dropped after.
 * Under `deno task test` (tests/_support/run_suite.ts) the snapshot and a
 * migrated PostgreSQL template are made once for the whole run and named by
 * PGLITE_SNAPSHOT_ENV and POSTGRES_TEMPLATE_ENV; a test file run on its own
 * makes its snapshot itself and migrates each PostgreSQL database.
 */
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import type { Actor } from "../../src/auth/actor.ts";
import { actorFor } from "../../src/auth/credentials.ts";
import { bootstrapAdmin } from "../../src/bootstrap.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { type Database, openDatabase } from "../../src/db/mod.ts";
import { getUserByEmail } from "../../src/data/users.ts";
import { createServices, type Services } from "../../src/services.ts";
import { AuditLog } from "../../src/audit/mod.ts";

export type Backend = "pglite" | "postgres";

export const POSTGRES_URL = Deno.env.get("TEST_DATABASE_URL") ?? Deno.env.get("DATABASE_URL");
export const BACKENDS: Backend[] = POSTGRES_URL ? ["pglite", "postgres"] : ["pglite"];

export const ADMIN_EMAIL = "admin@example.org";
export const ADMIN_PASSWORD = "admin-password-1";

let announced = false;
function announce() {
  if (announced) return;
  announced = true;
  console.log(
    `labgate tests: backends ${BACKENDS.join(" + ")}${
      POSTGRES_URL ? "" : " (set TEST_DATABASE_URL to also run on PostgreSQL)"
    }`,
  );
}

/** Names the file holding the run's migrated PGlite data directory (tar). */
export const PGLITE_SNAPSHOT_ENV = "LABGATE_TEST_PGLITE_SNAPSHOT";
/** Names the run's migrated PostgreSQL database that test databases are copied from. */
export const POSTGRES_TEMPLATE_ENV = "LABGATE_TEST_POSTGRES_TEMPLATE";

/**
 * A migrated PGlite data directory as an uncompressed tar. Its WAL segments
 * are 1 MB instead of 16: every test restores this archive into memory, and
 * the smaller it is, the sooner the test's database is up (about 40%).
 */
export async function migratedPgliteDataDir(): Promise<Blob> {
  const blank = new PGlite({ initDbStartParams: ["--wal-segsize=1"] });
  await blank.waitReady;
  const initialized = await blank.dumpDataDir("none");
  await blank.close();
  const database = await openDatabase({ loadDataDir: initialized });
  if (database.engine.kind !== "pglite") throw new Error("expected PGlite");
  const { pglite, lock } = database.engine;
  const blob = await lock.run(async () => {
    await pglite.exec("checkpoint");
    return await pglite.dumpDataDir("none");
  });
  await database.close();
  return blob;
}

let snapshot: Promise<Blob> | undefined;

/** The run's migrated PGlite data directory, read once per test file (or made, if none). */
function pgliteSnapshot(): Promise<Blob> {
  const file = Deno.env.get(PGLITE_SNAPSHOT_ENV);
  snapshot ??= file
    ? Deno.readFile(file).then((bytes) => new Blob([bytes]))
    : migratedPgliteDataDir();
  return snapshot;
}

/** A private database for one test, and how to throw it away. */
export async function testDatabase(
  backend: Backend,
): Promise<{ database: Database; url?: string; dispose: () => Promise<void> }> {
  if (backend === "pglite") {
    const database = await openDatabase({ loadDataDir: await pgliteSnapshot() });
    return { database, dispose: () => database.close() };
  }
  return await scratchPostgresDatabase(POSTGRES_URL!, { prefix: "lgt", poolSize: 4 });
}

/** `url` with its database name replaced by `name`. */
function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Gives a database copied from a template the install id of its own that a
 * migrated one would have: folder role names carry it, and roles are
 * cluster-wide.
 */
async function newInstallId(url: string): Promise<void> {
  await onServer(url, (client) =>
    client.query(
      `update lg_app.settings
       set value = to_jsonb(substr(replace(gen_random_uuid()::text, '-', ''), 1, 8))
       where key = 'install_id'`,
    ));
}

/**
 * A new database on the PostgreSQL server at `serverUrl`, migrated, and how to
 * drop it (and the folder roles it made) afterwards. Tests and benchmarks use it.
 * On the test server during a suite run it is a copy of the run's migrated
 * template (CREATE DATABASE ... TEMPLATE), which is cheaper than migrating.
 */
export async function scratchPostgresDatabase(
  serverUrl: string,
  options: { prefix: string; poolSize?: number },
): Promise<{ database: Database; url: string; dispose: () => Promise<void> }> {
  const name = `${options.prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const template = serverUrl === POSTGRES_URL ? Deno.env.get(POSTGRES_TEMPLATE_ENV) : undefined;
  const url = databaseUrl(serverUrl, name);
  const drop = (installId?: string) =>
    onServer(serverUrl, async (admin) => {
      // Wait for the pool's sessions to leave so nothing is killed mid-close.
      for (let i = 0; i < 50 && installId; i++) {
        const { rows } = await admin.query(
          `select count(*)::int as n from pg_stat_activity where datname = $1`,
          [name],
        );
        if (rows[0].n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await admin.query(`drop database if exists ${name} with (force)`);
      if (!installId) return;
      const roles = await admin.query<{ rolname: string }>(
        `select rolname from pg_roles where rolname like $1`,
        [`lg\\_${installId}\\_%`],
      );
      for (const { rolname } of roles.rows) await admin.query(`drop role if exists ${rolname}`);
    });
  let database: Database;
  try {
    await onServer(
      serverUrl,
      (admin) => admin.query(`create database ${name}${template ? ` template ${template}` : ""}`),
    );
    if (template) await newInstallId(url);
    database = await openDatabase({ url, poolSize: options.poolSize });
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    database,
    url,
    dispose: async () => {
      await database.close();
      await drop(database.installId);
    },
  };
}

/**
 * Runs `fn` on a connection to `url` opened only for it:
 * a test holds no connection it does not use (max_connections is shared by
 * every test file running at once).
 */
async function onServer<T>(serverUrl: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

export interface TestContext {
  backend: Backend;
  svc: Services;
  config: Config;
  /** The site admin every test database starts with. */
  admin: Actor;
  /** The PostgreSQL URL of this test's database (postgres backend only). */
  url?: string;
  /** Moves the services' clock. */
  advance(ms: number): void;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    LABGATE_ADMIN_EMAIL: ADMIN_EMAIL,
    LABGATE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LABGATE_LOG_REQUESTS: "false",
    ...overrides,
  });
}

/** The Actor for a user, as if signed in through `door`. */
export async function actorOf(
  svc: Services,
  email: string,
  door: Actor["door"] = "web",
): Promise<Actor> {
  const user = await getUserByEmail(svc, email);
  if (!user) throw new Error(`No test user ${email}`);
  return actorFor(user, {
    credential: { kind: "session", id: null },
    compliance: null,
    impersonatorId: null,
    door,
    clientAddr: "127.0.0.1",
  });
}

export interface BackendTestOptions {
  env?: Record<string, string>;
  ignore?: boolean;
  only?: Backend[];
}

/** Registers `name [backend]` for each backend; `fn` gets a fresh database. */
export function backendTest(
  name: string,
  fn: (t: TestContext) => Promise<void>,
  options: BackendTestOptions = {},
): void {
  announce();
  for (const backend of BACKENDS) {
    if (options.only && !options.only.includes(backend)) continue;
    Deno.test({
      name: `${name} [${backend}]`,
      ignore: options.ignore,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const { database, url, dispose } = await testDatabase(backend);
        let offset = 0;
        const config = testConfig(options.env);
        const svc = createServices(config, database, {
          now: () => new Date(Date.now() + offset),
          audit: new AuditLog(database, { flushMs: 10 }),
        });
        try {
          await bootstrapAdmin(svc, () => {});
          const admin = await actorOf(svc, ADMIN_EMAIL);
          await fn({ backend, svc, config, admin, url, advance: (ms) => (offset += ms) });
          await svc.audit.flush();
        } finally {
          await svc.audit.flush();
          await dispose();
        }
      },
    });
  }
}
