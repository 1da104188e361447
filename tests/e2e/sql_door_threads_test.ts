/**
 * A real labgate (main.ts) with LABGATE_SQL_DOOR_THREADS=2: two door threads
 * on one port, the kernel spreading connections between them. The caps are
 * counted across both, and a cancel request reaches the connection whichever
 * thread it lands on.
 */
import assert from "node:assert/strict";
import {
  actorOf,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  POSTGRES_URL,
  scratchPostgresDatabase,
  testConfig,
} from "../_support/backends.ts";
import { bootstrapAdmin } from "../../src/app/bootstrap.ts";
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { createUser } from "../../src/data/users.ts";
import { createServices } from "../../src/services.ts";
import { sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { concat } from "../../wire/protocol/bytes.ts";
import { bindText, cancelRequest, execute, parse, SYNC } from "../../wire/protocol/messages.ts";
import { errorOf, RawClient } from "../wire/_client.ts";
import { eventually, freePort, startInstance } from "./_instances.ts";

const READER = { email: "reader@example.org", password: "reader-password-1" };
const FOLDER = "/home/threads";
const PER_USER = 6;

Deno.test({
  name: "two SQL door threads share the caps and each other's cancel requests",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (!POSTGRES_URL) {
      console.log("SKIPPED: set TEST_DATABASE_URL to run labgate with SQL door threads");
      return;
    }
    const scratch = await scratchPostgresDatabase(POSTGRES_URL, { prefix: "lgth", poolSize: 2 });
    const svc = createServices(testConfig(), scratch.database);
    const clients: RawClient[] = [];
    let instance: Awaited<ReturnType<typeof startInstance>> | undefined;
    try {
      await bootstrapAdmin(svc, () => {});
      const admin = await actorOf(svc, ADMIN_EMAIL);
      const reader = await createUser(svc, admin, { ...READER, mustChangePassword: false });
      await createContainer(svc, admin, { parentPath: "/home", name: "threads" });
      await setPolicy(svc, admin, FOLDER, {
        inherit: false,
        assignments: [{ principalId: reader.id, role: "reader" }],
      });
      const port = freePort();
      await svc.settings.set(sqlDoorSettings, {
        ...sqlDoorSettings.defaults,
        enabled: true,
        port,
        maxConnectionsPerUser: PER_USER,
      });
      instance = await startInstance("127.0.0.1", {
        DATABASE_URL: scratch.url,
        LABGATE_ADMIN_EMAIL: ADMIN_EMAIL,
        LABGATE_ADMIN_PASSWORD: ADMIN_PASSWORD,
        LABGATE_SQL_DOOR_THREADS: "2",
      });
      const listening = new RegExp(`SQL door listening on 127\\.0\\.0\\.1:${port}$`);
      const started = instance.process;
      // The second thread loads and assembles its own services: seconds on a loaded machine.
      await eventually(
        "both threads listen",
        () => Promise.resolve(started.count(listening) === 2),
        30_000,
      );
      const login = { user: READER.email, password: READER.password, database: FOLDER };
      for (let i = 0; i < PER_USER; i++) clients.push(await RawClient.connect(port, login));

      // One more is refused whichever thread it reaches: the count is shared.
      for (let i = 0; i < 4; i++) {
        await assert.rejects(RawClient.connect(port, login), /53300: You have 6 connections/);
      }

      // Each client's long statement is canceled; the cancel requests land on either thread.
      await Promise.all(clients.map(async (client) => {
        client.send(concat([
          parse("", "select pg_sleep($1::float8)", new Uint8Array(2)),
          bindText("", "", ["20"]),
          execute(""),
          SYNC,
        ]));
        const reply = client.until("Z", 15_000);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const canceler = await RawClient.open(port);
        await canceler.write(cancelRequest(client.pid, client.secret));
        await canceler.closedByServer();
        canceler.close();
        const error = (await reply).find((m) => m.type === "E");
        assert.equal(error && errorOf(error).code, "57014");
      }));
    } finally {
      for (const client of clients) client.close();
      await instance?.process.stop();
      await svc.audit.flush();
      await scratch.dispose();
    }
  },
});
