import assert from "node:assert/strict";
import { sql } from "kysely";
import { assembleServices, openWhenReachable, serverOf } from "../../../src/app/assemble.ts";
import { loadConfig } from "../../../src/config.ts";
import { ensureShadowCatalog } from "../../../src/sql/mod.ts";
import type { Database } from "../../../src/db/mod.ts";

const refused = () =>
  Object.assign(new Error("Connection refused (os error 111)"), {
    name: "ConnectionRefused",
  });
const URL = "postgres://lab:secret@db.example:6543/labdata";

Deno.test("openWhenReachable() tries an unreachable server again until it answers", async () => {
  const pauses: number[] = [];
  const logged: string[] = [];
  let attempts = 0;
  const database = {} as Database;
  const opened = await openWhenReachable(
    { databaseUrl: URL, dataDir: "", databaseWaitSeconds: 30 },
    {
      open: () => ++attempts < 4 ? Promise.reject(refused()) : Promise.resolve(database),
      log: (message) => logged.push(message),
      sleep: (ms) => (pauses.push(ms), Promise.resolve()),
    },
  );
  assert.equal(opened, database);
  assert.deepEqual(pauses, [250, 500, 1000]);
  assert.match(logged[0], /waiting for the PostgreSQL server at db\.example:6543/);
  assert.doesNotMatch(logged.join("\n"), /secret/);
});

Deno.test("openWhenReachable() gives up naming the server and what to check", async () => {
  await assert.rejects(
    () =>
      openWhenReachable(
        { databaseUrl: URL, dataDir: "", databaseWaitSeconds: 0 },
        { open: () => Promise.reject(refused()), log: () => {} },
      ),
    (error: Error) => {
      assert.match(error.message, /^Cannot reach the PostgreSQL server at db\.example:6543 /);
      assert.match(error.message, /\(database labdata\)/);
      assert.match(error.message, /Connection refused \(os error 111\)/);
      assert.match(error.message, /Check that PostgreSQL is running/);
      assert.match(error.message, /LABGATE_DATABASE_WAIT_SECONDS/);
      assert.doesNotMatch(error.message, /secret/);
      return true;
    },
  );
});

Deno.test("openWhenReachable() does not retry a refusal by the server itself", async () => {
  let attempts = 0;
  const denied = Object.assign(new Error('password authentication failed for user "lab"'), {
    code: "28P01",
  });
  await assert.rejects(
    () =>
      openWhenReachable(
        { databaseUrl: URL, dataDir: "", databaseWaitSeconds: 30 },
        { open: () => (attempts++, Promise.reject(denied)), log: () => {} },
      ),
    /^Error: The PostgreSQL server at db\.example:6543 \(database labdata\): password/,
  );
  assert.equal(attempts, 1);
});

Deno.test("serverOf() names a TCP server or a Unix socket", () => {
  assert.equal(serverOf("postgres://u@h/db"), "h:5432 (database db)");
  assert.equal(
    serverOf("postgres:///db?host=/run/postgresql&port=5433"),
    "Unix socket /run/postgresql/.s.PGSQL.5433 (database db)",
  );
});

Deno.test({
  name: "assembleServices() installs the SQL sandbox's shadow catalog after the migrations",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "labgate-assemble-" });
    try {
      const { database } = await assembleServices(loadConfig({ LABGATE_DATA_DIR: dataDir }));
      try {
        const { rows } = await sql<{ mark: string | null }>`
          select pg_catalog.obj_description('lg_catalog'::regnamespace, 'pg_namespace') as mark`
          .execute(database.root);
        assert.match(rows[0].mark ?? "", /^labgate shadow catalog [0-9a-f]{32}$/);
        assert.equal(await ensureShadowCatalog(database.root), false);
      } finally {
        await database.close();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
