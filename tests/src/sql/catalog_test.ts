import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest } from "../../_support/backends.ts";
import { ensureShadowCatalog } from "../../../src/sql/catalog.ts";
import { CATALOG_VIEWS } from "../../../src/sql/catalog_views.ts";
import { buildWorld, clientQuery, leaks, openSandbox, READER } from "./_world.ts";

backendTest(
  "ensureShadowCatalog() answers SELECT * on every shadow view without leaks",
  async (t) => {
    // Reading every view is about leaks, not speed: a generous timeout keeps
    // the slowest ones (information_schema.columns, ~0.2 s alone) from
    // failing on a loaded machine.
    const world = await buildWorld(t, 60_000);
    // The real relations and their columns, read by the app before the
    // sandbox takes PGlite's only session.
    const { rows } = await sql<{ relation: string; columns: string[] }>`
    select n.nspname || '.' || c.relname as relation,
      array_agg(a.attname::text order by a.attnum) as columns
    from pg_attribute a join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    where ((n.nspname = 'pg_catalog' and c.relname = any(${Object.keys(CATALOG_VIEWS)}))
        or (n.nspname = 'information_schema' and c.relkind = 'v'
          and c.relname not like '\\_pg\\_%'))
      and a.attnum > 0 and not a.attisdropped
    group by 1 order by 1`.execute(t.svc.database.root);
    assert.ok(rows.length > 100);
    const box = await openSandbox(t, world.scope);
    try {
      for (const { relation, columns } of rows) {
        const [answer] = await clientQuery(box, world.scope, `SELECT * FROM ${relation}`);
        assert.deepEqual(leaks([answer], world), [], relation);
        // The real relation's columns in the same order (then compatibility columns).
        const names = answer.fields.map((f) => f.name);
        assert.deepEqual(names.slice(0, columns.length), columns, relation);
      }
    } finally {
      await box.close();
    }
  },
);

backendTest(
  "ensureShadowCatalog() shows the folder as a database with lists and core",
  async (t) => {
    const world = await buildWorld(t);
    const box = await openSandbox(t, world.scope);
    const query = async (text: string) => (await clientQuery(box, world.scope, text))[0].rows;
    try {
      assert.deepEqual(await query("SELECT datname FROM pg_database"), [{ datname: "/home/a" }]);
      assert.deepEqual(
        await query(
          "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables " +
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 2, 3",
        ),
        [
          {
            table_catalog: "/home/a",
            table_schema: "core",
            table_name: "containers",
            table_type: "VIEW",
          },
          {
            table_catalog: "/home/a",
            table_schema: "core",
            table_name: "users",
            table_type: "VIEW",
          },
          {
            table_catalog: "/home/a",
            table_schema: "lists",
            table_name: "samples",
            table_type: "BASE TABLE",
          },
          {
            table_catalog: "/home/a",
            table_schema: "lists",
            table_name: "sites",
            table_type: "BASE TABLE",
          },
        ],
      );
      assert.deepEqual(await query("SELECT path FROM core.containers"), [{ path: "/home/a" }]);
      assert.deepEqual(await query("SELECT email FROM core.users"), [{ email: READER }]);
      assert.deepEqual(
        await query("SELECT definition FROM pg_views WHERE schemaname = 'core'"),
        [{ definition: null }, { definition: null }],
      );
      assert.deepEqual(
        await query("SELECT obj_description('lists.samples'::regclass, 'pg_class') AS d"),
        [{ d: "Samples received at the lab" }],
      );
      assert.deepEqual(
        await query(
          "SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace ORDER BY 1",
        ),
        [
          { nspname: "core", owner: READER },
          { nspname: "information_schema", owner: "postgres" },
          { nspname: "lists", owner: READER },
          { nspname: "pg_catalog", owner: "postgres" },
        ],
      );
      assert.deepEqual(
        await query("SELECT current_setting('search_path') AS s, current_schemas(false) AS c"),
        [{ s: "lists", c: t.backend === "pglite" ? ["lists"] : "{lists}" }],
      );
    } finally {
      await box.close();
    }
  },
);

backendTest(
  "ensureShadowCatalog() installs the current catalog over an older one, else leaves it",
  async (t) => {
    const root = t.svc.database.root;
    const explains = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from pg_catalog.pg_proc
        where proname = 'explain' and pronamespace = 'lg_catalog'::regnamespace`.execute(root))
        .rows[0].n;
    // The test database has the current catalog (as assembleServices() leaves it).
    assert.equal(await ensureShadowCatalog(root), false);
    // One an older labgate installed (the migrations did, without a version): no explain().
    await sql`drop function lg_catalog.explain(text)`.execute(root);
    await sql`comment on schema lg_catalog is null`.execute(root);
    assert.equal(await explains(), 0);
    assert.equal(await ensureShadowCatalog(root), true);
    assert.equal(await explains(), 1);
    assert.equal(await ensureShadowCatalog(root), false);
    // Two instances starting together: one installs, the other finds it done.
    await sql`comment on schema lg_catalog is 'labgate shadow catalog 0'`.execute(root);
    const both = await Promise.all([ensureShadowCatalog(root), ensureShadowCatalog(root)]);
    assert.deepEqual(both.toSorted(), [false, true]);
  },
);
