import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest } from "../../_support/backends.ts";
import { migrate } from "../../../src/db/mod.ts";

backendTest(
  "migrate() installs the current shadow catalog on a database that has an older one",
  async (t) => {
    const root = t.svc.database.root;
    // A database migrated before 007: the catalog of 002, without lg_catalog.explain().
    await sql`delete from lg_app.kysely_migration where name = '007_sql_catalog'`.execute(root);
    await sql`drop function lg_catalog.explain(text)`.execute(root);
    await migrate(root);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_catalog.pg_proc
      where proname = 'explain' and pronamespace = 'lg_catalog'::regnamespace`.execute(root);
    assert.equal(rows[0].n, 1);
  },
);
