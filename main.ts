/**
 * labgate: configuration → database → HTTP app (and the SQL door listener).
 * The only place, with wire/ and the database adapter, that uses Deno APIs.
 */
import { createApp } from "./routes/mod.ts";
import { bootstrapAdmin } from "./src/bootstrap.ts";
import { loadConfig } from "./src/config.ts";
import { openDatabase } from "./src/db/mod.ts";
import { createServices } from "./src/services.ts";
import { startSqlDoor } from "./wire/mod.ts";

if (import.meta.main) {
  const config = loadConfig(Deno.env.toObject());
  const database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : { dataDir: config.dataDir },
  );
  const svc = createServices(config, database);
  await bootstrapAdmin(svc, (message) => console.log(message));
  const app = createApp(svc, { log: (line) => console.log(JSON.stringify(line)) });
  const server = Deno.serve({
    port: config.port,
    hostname: config.hostname,
    onListen: ({ hostname, port }) =>
      console.log(
        `labgate: http://${hostname}:${port} on ${
          database.kind === "pglite" ? `embedded database ${config.dataDir}` : "PostgreSQL"
        }`,
      ),
  }, app.fetch);
  const sqlDoor = await startSqlDoor(svc, {
    hostname: config.hostname,
    // The certificate module answers here once it lands; until then SSLRequest gets 'N'.
    getTlsMaterial: () => Promise.resolve(null),
    log: (message) => console.log(message),
  });
  const shutdown = async () => {
    await sqlDoor.close();
    await server.shutdown();
    await svc.audit.flush();
    await database.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);
}
