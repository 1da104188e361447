/// <reference lib="deno.worker" />
/**
 * A further SQL door thread (LABGATE_SQL_DOOR_THREADS): the same door on
 * the same port, with its own services (database pool, caches, invalidation
 * listener) and its own backend sessions. Started by `DoorThreads`.
 */
import { loadConfig } from "../src/config.ts";
import { assembleServices } from "../src/app/assemble.ts";
import type { Database } from "../src/db/mod.ts";
import type { Services } from "../src/services.ts";
import { getTlsMaterial } from "../src/doors/sql/tls/mod.ts";
import type { ThreadMessage } from "./door_threads.ts";
import { type SqlDoor, startSqlDoor } from "./mod.ts";

let running: { database: Database; svc: Services; door: SqlDoor } | null = null;

function answer(message: ThreadMessage): void {
  self.postMessage(message);
}

self.onmessage = async (event: MessageEvent<ThreadMessage>) => {
  const message = event.data;
  if (message.kind === "start") {
    try {
      const config = loadConfig(Deno.env.toObject());
      // The main thread made sure of the shadow catalog before starting this one.
      const { database, svc } = await assembleServices(config, { shadowCatalog: false });
      const door = await startSqlDoor(svc, {
        hostname: config.hostname,
        port: message.port,
        getTlsMaterial: () => getTlsMaterial(svc),
        log: (line) => console.log(line),
        thread: message.thread,
      });
      running = { database, svc, door };
      answer({ kind: "started" });
    } catch (error) {
      answer({ kind: "failed", message: (error as Error).message });
    }
  } else if (message.kind === "stop") {
    if (running) {
      await running.door.close();
      await running.svc.audit.flush();
      await running.database.close();
      running = null;
    }
    answer({ kind: "stopped" });
  }
};

answer({ kind: "loaded" });
