/** The embedded database serves one labgate process: a second one on its directory stops. */
import assert from "node:assert/strict";
import { createServices } from "../../src/services.ts";
import { sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { testConfig, testDatabase } from "../_support/backends.ts";
import { freePort, LabgateProcess, startInstance } from "./_instances.ts";

Deno.test({
  name: "main.ts refuses a PGlite data directory another labgate process is using",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "labgate-single-" });
    try {
      // Made here first, so the SQL door uses a free port rather than the default; from the run's
      // migrated snapshot rather than initdb and every migration.
      const { database } = await testDatabase("pglite", { dataDir });
      const svc = createServices(testConfig(), database);
      await svc.settings.set(sqlDoorSettings, {
        ...await svc.settings.get(sqlDoorSettings),
        port: freePort(),
      });
      await database.close();

      const first = await startInstance("127.0.0.1", { LABGATE_DATA_DIR: dataDir });
      try {
        const second = LabgateProcess.spawn({
          LABGATE_DATA_DIR: dataDir,
          LABGATE_HOSTNAME: "127.0.0.1",
        });
        const { code } = await second.status;
        assert.equal(code, 1);
        assert.match(
          second.stderr,
          new RegExp(
            `data directory .* is in use by another labgate process \\(pid ${first.process.pid}\\); ` +
              `the embedded database serves one instance .* use DATABASE_URL`,
          ),
        );
        const health = await fetch(`${first.url}/healthz`);
        await health.body?.cancel();
        assert.equal(health.status, 200, "the first one serves on");
      } finally {
        await first.process.stop();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
