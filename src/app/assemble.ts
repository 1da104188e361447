/**
 * The one place that assembles labgate's services from its configuration:
 * main.ts calls it, and so does every further SQL door thread
 * (wire/door_worker.ts), which gets services of its own. It opens (and
 * migrates) the database, then has the SQL sandbox install its shadow
 * catalog when this version's is not there yet.
 */
import type { Config } from "../config.ts";
import { type Database, openDatabase, type OpenOptions } from "../db/mod.ts";
import { isDatabaseUnavailable } from "../errors.ts";
import { createServices, type Services } from "../services.ts";
import { ensureShadowCatalog } from "../sql/mod.ts";

export async function assembleServices(
  config: Config,
  options: {
    /**
     * False in a further SQL door thread: the main thread, which starts it,
     * has made sure of the catalog already.
     */
    shadowCatalog?: boolean;
  } = {},
): Promise<{ database: Database; svc: Services }> {
  const database = await openWhenReachable(config);
  // After the migrations: the sandbox's shadow catalog, when this version's is not installed.
  if (options.shadowCatalog ?? true) {
    await ensureShadowCatalog(database.root).catch(async (error) => {
      await database.close();
      throw error;
    });
  }
  const svc = createServices(config, database);
  // Listen to the other instances before serving, so no change they make goes unseen.
  await svc.invalidate.ready;
  return { database, svc };
}

/** Pauses between attempts to reach a PostgreSQL server that is not up yet: doubling to the last. */
const RETRY_MS = { first: 250, max: 5_000 };

/**
 * Opens the configured database. A PostgreSQL server that cannot be reached
 * (not started yet, restarting, starting up) is tried again with growing
 * pauses for `databaseWaitSeconds`, since labgate and its database often
 * start together; then, or at any other refusal, the error names the server
 * and what to check instead of only the socket's words.
 */
export async function openWhenReachable(
  config:
    & Pick<Config, "databaseUrl" | "dataDir" | "databaseWaitSeconds">
    & Partial<Pick<Config, "embeddedPreemptMs" | "embeddedSharedBuffersMb">>,
  options: {
    open?: (options: OpenOptions) => Promise<Database>;
    log?: (message: string) => void;
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<Database> {
  const open = options.open ?? openDatabase;
  if (!config.databaseUrl) {
    return await open({
      dataDir: config.dataDir,
      preemptAfterMs: config.embeddedPreemptMs,
      sharedBuffersMb: config.embeddedSharedBuffersMb,
    });
  }
  const url = config.databaseUrl;
  const log = options.log ?? ((message) => console.error(message));
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const where = serverOf(url);
  const deadline = Date.now() + config.databaseWaitSeconds * 1000;
  for (let pause = RETRY_MS.first;; pause = Math.min(pause * 2, RETRY_MS.max)) {
    try {
      return await open({ url });
    } catch (error) {
      const reason = (error as Error)?.message ?? String(error);
      if (!isDatabaseUnavailable(error)) {
        // The server answered and refused (a password, a missing database): say which server.
        const code = (error as { code?: unknown })?.code;
        if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) throw error;
        throw new Error(`The PostgreSQL server at ${where}: ${reason}`, { cause: error });
      }
      if (Date.now() + pause > deadline) {
        throw new Error(
          `Cannot reach the PostgreSQL server at ${where}` +
            (config.databaseWaitSeconds > 0 ? ` (tried for ${config.databaseWaitSeconds} s)` : "") +
            `: ${reason}. Check that PostgreSQL is running and accepts connections on that ` +
            "host and port (listen_addresses, port, a firewall between), and that DATABASE_URL " +
            "names them; LABGATE_DATABASE_WAIT_SECONDS sets how long labgate waits at start",
          { cause: error },
        );
      }
      log(
        `labgate: waiting for the PostgreSQL server at ${where} (${reason}); ` +
          `trying again in ${pause} ms`,
      );
      await sleep(pause);
    }
  }
}

/** The server a postgres:// URL names, as an operator would check it: host:port/database. */
export function serverOf(url: string): string {
  try {
    const u = new URL(url);
    const socketDir = u.searchParams.get("host");
    const host = socketDir || u.hostname || "localhost";
    const port = u.port || u.searchParams.get("port") || "5432";
    const database = decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username) ||
      "postgres";
    return socketDir?.startsWith("/")
      ? `Unix socket ${host}/.s.PGSQL.${port} (database ${database})`
      : `${host}:${port} (database ${database})`;
  } catch {
    return "DATABASE_URL (not a valid URL)";
  }
}
