/**
 * labgate: configuration → database → HTTP app (and the SQL door listener).
 * The only place, with wire/ and the database adapter, that uses Deno APIs.
 */
import { createApp } from "./routes/mod.ts";
import { bootstrapAdmin } from "./src/bootstrap.ts";
import { loadConfig } from "./src/config.ts";
import { openDatabase } from "./src/db/mod.ts";
import { createServices } from "./src/services.ts";
import { ensureCertificate, getTlsMaterial, useConfiguredCertificate } from "./src/tls/mod.ts";
import { ConnectionCounts, DoorThreads } from "./wire/door_threads.ts";
import { startSqlDoor } from "./wire/mod.ts";

if (import.meta.main) {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (error) {
    // A bad setting is the operator's to fix: say which, without a stack trace.
    console.error(`labgate: ${(error as Error).message}`);
    Deno.exit(1);
  }
  const database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : { dataDir: config.dataDir },
  ).catch((error) => {
    console.error(`labgate: ${(error as Error).message}`);
    Deno.exit(1);
  });
  const svc = createServices(config, database);
  // Listen to the other instances before serving, so no change they make goes unseen.
  await svc.invalidate.ready;
  await bootstrapAdmin(svc, (message) => console.log(message));
  if (config.tlsCertFile && config.tlsKeyFile) {
    await useConfiguredCertificate(svc, {
      certPem: await Deno.readTextFile(config.tlsCertFile),
      keyPem: await Deno.readTextFile(config.tlsKeyFile),
    });
  }
  // Renews the SQL door's self-signed certificate before it expires, here and hourly.
  const checkCertificate = () =>
    ensureCertificate(svc).catch((error) =>
      console.error(`labgate: TLS certificate check failed: ${(error as Error).message}`)
    );
  await checkCertificate();
  const certificateTimer = setInterval(checkCertificate, 60 * 60 * 1000);
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
  const threads = config.sqlDoorThreads;
  const counts = ConnectionCounts.buffer();
  const sqlDoor = await startSqlDoor(svc, {
    hostname: config.hostname,
    port: config.sqlDoorPort,
    getTlsMaterial: () => getTlsMaterial(svc),
    log: (message) => console.log(message),
    thread: threads > 1 ? { index: 0, count: threads, counts } : undefined,
  });
  // Further threads join the port this one listens on (an ephemeral one included).
  const doorThreads = threads > 1
    ? await DoorThreads.start({
      port: config.sqlDoorPort === 0 ? sqlDoor.port ?? undefined : config.sqlDoorPort,
      count: threads,
      counts,
    }).catch((error) => {
      console.error(`labgate: SQL door threads did not start: ${(error as Error).message}`);
      Deno.exit(1);
    })
    : null;
  const shutdown = async () => {
    clearInterval(certificateTimer);
    await doorThreads?.stop();
    await sqlDoor.close();
    await server.shutdown();
    await svc.audit.flush();
    await database.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);
}
