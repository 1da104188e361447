/**
 * labgate: configuration → database → HTTP app (and the SQL door listener).
 * The only place, with wire/ and the database adapter, that uses Deno APIs.
 */
import { createApp } from "./routes/mod.ts";
import { bootstrapAdmin } from "./src/app/bootstrap.ts";
import { loadConfig, LOG_LEVELS, type LogLevel } from "./src/config.ts";
import { assembleServices } from "./src/app/assemble.ts";
import type { Services } from "./src/services.ts";
import {
  ensureCertificate,
  getTlsMaterial,
  servedCertificateExpiry,
  useConfiguredCertificate,
} from "./src/doors/sql/tls/mod.ts";
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
  const { database, svc } = await assembleServices(config).catch((error) => {
    console.error(`labgate: ${(error as Error).message}`);
    Deno.exit(1);
  });
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
  reportProcessMetrics(svc);
  let sqlDoorListening = () => false;
  const app = createApp(svc, {
    log: config.logRequests && logs(config.logLevel, "info")
      ? (line) => console.log(JSON.stringify(line))
      : undefined,
    readiness: {
      sqlDoor: () =>
        sqlDoorListening() ? null : "the SQL door is not listening (switched off or failed)",
    },
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
    log: logs(config.logLevel, "info") ? (message) => console.log(message) : undefined,
    thread: threads > 1 ? { index: 0, count: threads, counts } : undefined,
  });
  sqlDoorListening = () => sqlDoor.port !== null;
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

/** Whether lines of `level` are written at the configured level. */
function logs(configured: LogLevel, level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(configured);
}

/**
 * What only the runtime knows, read at each scrape: memory, event-loop lag
 * (how late a 100 ms timer fires: a statement blocking the thread shows here),
 * and the SQL door certificate's remaining days.
 */
function reportProcessMetrics(svc: Services): void {
  const metrics = svc.metrics.registry;
  metrics.gauge("labgate_process_resident_memory_bytes", "Resident set size", () => [
    { value: Deno.memoryUsage().rss },
  ]);
  let lagMs = 0;
  let maxLagMs = 0;
  let expected = performance.now() + 100;
  const lagTimer = setInterval(() => {
    const now = performance.now();
    lagMs = Math.max(0, now - expected);
    maxLagMs = Math.max(maxLagMs, lagMs);
    expected = now + 100;
  }, 100);
  Deno.unrefTimer(lagTimer);
  metrics.gauge(
    "labgate_event_loop_lag_seconds",
    "Event-loop lag: last and largest since the last scrape",
    () => {
      const values = [
        { labels: { kind: "last" }, value: lagMs / 1000 },
        { labels: { kind: "max" }, value: maxLagMs / 1000 },
      ];
      maxLagMs = 0;
      return values;
    },
  );
  metrics.gauge(
    "labgate_tls_certificate_expiry_days",
    "Days until the SQL door's certificate expires",
    () => {
      const expiry = servedCertificateExpiry(svc);
      return expiry ? [{ value: (expiry.getTime() - Date.now()) / 86_400_000 }] : [];
    },
  );
}
