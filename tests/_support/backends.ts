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
import type { Actor } from "../../src/core/actor.ts";
import { actorFor } from "../../src/core/actor.ts";
import { bootstrapAdmin } from "../../src/app/bootstrap.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { type Database, openDatabase } from "../../src/db/mod.ts";
import { getUserByEmail } from "../../src/data/users.ts";
import { createServices, type Services } from "../../src/services.ts";
import { AuditLog } from "../../src/audit/mod.ts";
import { scratchPostgresDatabase } from "../../src/db/scratch.ts";
import { ensureShadowCatalog } from "../../src/sql/mod.ts";

export { scratchPostgresDatabase };

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
 * A migrated PGlite data directory, with the shadow catalog (as
 * assembleServices() leaves it), as an uncompressed tar. Its WAL segments
 * are 1 MB instead of 16: every test restores this archive into memory, and
 * the smaller it is, the sooner the test's database is up (about 40%).
 */
export async function migratedPgliteDataDir(): Promise<Blob> {
  const blank = new PGlite({ initDbStartParams: ["--wal-segsize=1"] });
  await blank.waitReady;
  const initialized = await blank.dumpDataDir("none");
  await blank.close();
  const database = await openDatabase({ loadDataDir: initialized });
  await ensureShadowCatalog(database.root);
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

/**
 * A private database for one test, and how to throw it away. `onDisk`: the
 * embedded one in a temp data dir instead of memory, for tests of what only
 * a database on disk does (statements stopped at their limit survive it).
 */
export async function testDatabase(
  backend: Backend,
  options: { onDisk?: boolean; dataDir?: string; preemptAfterMs?: number } = {},
): Promise<{ database: Database; url?: string; dispose: () => Promise<void> }> {
  if (backend === "pglite") {
    const dataDir = options.dataDir ??
      (options.onDisk ? await Deno.makeTempDir({ prefix: "labgate-test-data-" }) : undefined);
    const database = await openDatabase({
      dataDir,
      loadDataDir: await pgliteSnapshot(),
      preemptAfterMs: options.preemptAfterMs,
    });
    return {
      database,
      dispose: async () => {
        await database.close();
        if (dataDir) await Deno.remove(dataDir, { recursive: true });
      },
    };
  }
  const template = Deno.env.get(POSTGRES_TEMPLATE_ENV);
  const scratch = await scratchPostgresDatabase(POSTGRES_URL!, {
    prefix: "lgt",
    poolSize: 4,
    template,
  });
  // A copy of the run's template has the catalog already; a database migrated here does not.
  if (!template) await ensureShadowCatalog(scratch.database.root);
  return scratch;
}

/**
 * A new temp data dir holding the run's migrated embedded database, for a
 * labgate process (main.ts) to start on: it then skips initdb and every
 * migration, a minute under load. The caller removes it.
 */
export async function migratedDataDir(prefix: string): Promise<string> {
  const dataDir = await Deno.makeTempDir({ prefix });
  const { database } = await testDatabase("pglite", { dataDir });
  await database.close();
  return dataDir;
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
  /** The embedded database in a temp data dir (see testDatabase()). */
  onDisk?: boolean;
  ignore?: boolean;
  only?: Backend[];
}

/**
 * The in-memory embedded databases of this file's backend tests: one is
 * opened ahead while a test runs (a quarter to half a second of WASM start
 * that otherwise each next test would wait for), as long as another test
 * that takes one is still to come.
 */
const inMemory = {
  /** Tests registered that take one and have not started. */
  toCome: 0,
  ahead: null as { preemptAfterMs: number; opening: ReturnType<typeof testDatabase> } | null,
};

/** An in-memory embedded database for a starting test: the one opened ahead, if it fits. */
function inMemoryDatabase(preemptAfterMs: number): ReturnType<typeof testDatabase> {
  inMemory.toCome--;
  const ahead = inMemory.ahead;
  inMemory.ahead = null;
  let opening = ahead?.opening;
  if (ahead && ahead.preemptAfterMs !== preemptAfterMs) {
    ahead.opening.then((unused) => unused.dispose(), () => {});
    opening = undefined;
  }
  opening ??= testDatabase("pglite", { preemptAfterMs });
  // Not before this one is up: the next one's start must not slow it down.
  opening.then(() => {
    if (inMemory.toCome <= 0 || inMemory.ahead) return;
    const next = testDatabase("pglite", { preemptAfterMs });
    next.catch(() => {}); // its test sees the error, if any
    inMemory.ahead = { preemptAfterMs, opening: next };
  }, () => {});
  return opening;
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
    const shared = backend === "pglite" && !options.onDisk;
    if (shared && !options.ignore) inMemory.toCome++;
    Deno.test({
      name: `${name} [${backend}]`,
      ignore: options.ignore,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const config = testConfig(options.env);
        const { database, url, dispose } = shared
          ? await inMemoryDatabase(config.embeddedPreemptMs)
          : await testDatabase(backend, {
            onDisk: options.onDisk,
            preemptAfterMs: config.embeddedPreemptMs,
          });
        let offset = 0;
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
