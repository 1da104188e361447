import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest } from "../../_support/backends.ts";
import { migrate, pendingMigrations } from "../../../src/db/mod.ts";

backendTest(
  "migrate() keeps the catalog migrations' names on record and leaves the catalog alone",
  async (t) => {
    const root = t.svc.database.root;
    const { rows } = await sql<{ name: string }>`select name from lg_app.kysely_migration
      where name like '%sql_catalog' order by name`.execute(root);
    // Databases that ran them have them on record: the migrator refuses a database whose
    // record names a migration this version lacks, so each name stays (and does nothing).
    assert.deepEqual(rows.map((r) => r.name), [
      "002_sql_catalog",
      "007_sql_catalog",
      "009_sql_catalog",
      "013_sql_catalog",
      "014_sql_catalog",
      "018_sql_catalog",
    ]);
    // A database migrated up to 017 runs 018 again: it no longer installs the catalog.
    await sql`delete from lg_app.kysely_migration where name = '018_sql_catalog'`.execute(root);
    await sql`comment on schema lg_catalog is 'left by the test'`.execute(root);
    await migrate(root);
    const after = await sql<{ mark: string }>`
      select pg_catalog.obj_description('lg_catalog'::regnamespace, 'pg_namespace') as mark`
      .execute(root);
    assert.equal(after.rows[0].mark, "left by the test");
    assert.deepEqual(await pendingMigrations(root), []);
  },
);

backendTest("migrate() indexes folder paths for case-insensitive lookups", async (t) => {
  const plan = await t.svc.database.root.transaction().execute(async (tx) => {
    // The folders table of a test is tiny: forbid scans so the plan shows the index is usable.
    await sql`set local enable_seqscan = off`.execute(tx);
    const { rows } = await sql<{ "QUERY PLAN": string }>`explain (costs off)
      select id from lg_app.containers where lower(path) = '/home'`.execute(tx);
    return rows.map((row) => row["QUERY PLAN"]).join("\n");
  });
  assert.match(plan, /containers_lower_path/);
});

backendTest(
  "migrate() leaves the audit log the one index its readers use, the newest-first one",
  async (t) => {
    const root = t.svc.database.root;
    const { rows } = await sql<{ indexname: string }>`select indexname from pg_catalog.pg_indexes
      where schemaname = 'lg_app' and tablename = 'audit_log'`.execute(root);
    // Every SQL-door statement writes an entry: an index nothing reads only makes that dearer.
    assert.deepEqual(rows.map((row) => row.indexname), ["audit_log_pkey"]);
    const plan = await root.transaction().execute(async (tx) => {
      await sql`set local enable_seqscan = off`.execute(tx);
      const { rows } = await sql<{ "QUERY PLAN": string }>`explain (costs off)
        select * from lg_app.audit_log order by id desc limit 300`.execute(tx);
      return rows.map((row) => row["QUERY PLAN"]).join("\n");
    });
    assert.match(plan, /Index Scan Backward using audit_log_pkey/);
  },
);
