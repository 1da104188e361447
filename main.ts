/**
 * labgate: configuration → database → HTTP app (and the SQL door listener).
 * The only place, with wire/ and the database adapter, that uses Deno APIs.
 */
import { createApp } from "./routes/mod.ts";
import { bootstrapAdmin } from "./src/bootstrap.ts";
import { loadConfig } from "./src/config.ts";
import { openDatabase } from "./src/db/mod.ts";
import { createServices } from "./src/services.ts";

if (import.meta.main) {
  const config = loadConfig(Deno.env.toObject());
  const database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : { dataDir: config.dataDir },
  );
  const svc = createServices(config, database);
  await bootstrapAdmin(svc, (message) => console.log(message));
  const app = createApp(svc, {
    log: config.logRequests ? (line) => console.log(JSON.stringify(line)) : undefined,
  });
  const server = Deno.serve({
    port: config.port,
    hostname: config.hostname,
    onListen: ({ hostname, port }) =>
      console.log(
        `labgate: http://${hostname}:${port} on ${
          database.kind === "pglite" ? `embedded database ${config.dataDir}` : "PostgreSQL"
        }`,
      ),
  }, (request, info) => app.fetch(request, { clientAddr: info.remoteAddr.hostname }));
  const shutdown = async () => {
    await server.shutdown();
    await svc.audit.flush();
    await database.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);
}
