import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest } from "../../_support/backends.ts";
import { migrate } from "../../../src/db/mod.ts";

backendTest(
  "migrate() installs the current shadow catalog on a database that has an older one",
  async (t) => {
    const root = t.svc.database.root;
    // A database migrated before 009: an older catalog, here one without
    // lg_catalog.explain() (and nothing after 009 either: migrations run in order).
    await sql`delete from lg_app.kysely_migration where name >= '009'`.execute(root);
    await sql`drop function lg_catalog.explain(text)`.execute(root);
    await migrate(root);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_catalog.pg_proc
      where proname = 'explain' and pronamespace = 'lg_catalog'::regnamespace`.execute(root);
    assert.equal(rows[0].n, 1);
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
