/**
 * The one place that assembles labgate's services from its configuration:
 * main.ts calls it, and so does every further SQL door thread
 * (wire/door_worker.ts), which gets services of its own.
 */
import type { Config } from "../config.ts";
import { type Database, openDatabase } from "../db/mod.ts";
import { createServices, type Services } from "../services.ts";

export async function assembleServices(
  config: Config,
): Promise<{ database: Database; svc: Services }> {
  const database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : { dataDir: config.dataDir },
  );
  const svc = createServices(config, database);
  // Listen to the other instances before serving, so no change they make goes unseen.
  await svc.invalidate.ready;
  return { database, svc };
}
