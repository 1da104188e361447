/**
 * The embedded database's thread as openDatabase() starts it: a new data
 * directory is opened again in a fresh thread once initdb and the
 * migrations have run (the thread that ran them keeps memory PGlite never
 * gives back), and the buffer cache is the configured size.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { openDatabase } from "../../../src/db/mod.ts";
import { DEFAULT_SHARED_BUFFERS_MB } from "../../../src/db/pglite_client.ts";

Deno.test({
  name: "openDatabase() opens a new data dir again in a fresh thread and keeps what it made",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "labgate-pglite-client-" });
    try {
      const first = await openDatabase({ dataDir: `${dir}/data` });
      if (first.engine.kind !== "pglite") throw new Error("expected PGlite");
      assert.equal(first.engine.pglite.created, true);
      // initdb and the migrations ran in the first thread; a second one serves from then on
      // (renew()), not as a restart after a failure.
      assert.equal(first.engine.pglite.threads, 2);
      assert.equal(first.engine.pglite.restarts, 0);
      // The renewed thread answers (the install id is read after renew()), with the
      // migrations' work in place.
      const { installId } = first;
      await first.close();
      const again = await openDatabase({ dataDir: `${dir}/data`, sharedBuffersMb: 16 });
      if (again.engine.kind !== "pglite") throw new Error("expected PGlite");
      assert.equal(again.engine.pglite.created, false);
      // A data dir made before opens in one thread, as it is.
      assert.equal(again.engine.pglite.threads, 1);
      assert.equal(again.installId, installId);
      const { rows } = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(
        again.root,
      );
      assert.equal(rows[0].shared_buffers, "16MB");
      await again.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    `openDatabase() gives the embedded database ${DEFAULT_SHARED_BUFFERS_MB} MB of buffers by default`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const database = await openDatabase();
    const { rows } = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(
      database.root,
    );
    assert.equal(rows[0].shared_buffers, `${DEFAULT_SHARED_BUFFERS_MB}MB`);
    await database.close();
  },
});
