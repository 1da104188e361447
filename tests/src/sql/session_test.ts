import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest } from "../../_support/backends.ts";
import { type FolderScope, hidePhysicalNames } from "../../../src/sql/mod.ts";
import {
  buildWorld,
  clientQuery,
  EngineError,
  leaks,
  openSandbox,
  READER,
  type Sandbox,
  SECRET_VALUE,
  type World,
} from "./_world.ts";

async function refusedOrFailed(promise: Promise<unknown>): Promise<EngineError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  assert.fail("expected an error");
}

async function value(box: Sandbox, text: string): Promise<unknown> {
  const [answer] = await box.exec(text);
  return Object.values(answer.rows[0])[0];
}

backendTest("sessionSetupSql() runs the client as the folder role, read-only", async (t) => {
  const world = await buildWorld(t);
  const box = await openSandbox(t, world.scope);
  try {
    // Raw SQL, not analysed: the engine itself is the second wall.
    assert.equal(await value(box, "SELECT current_user"), world.scope.role);
    assert.equal(await value(box, "SHOW default_transaction_read_only"), "on");
    assert.equal(await value(box, "SHOW statement_timeout"), "5s");
    assert.equal(await value(box, "SELECT count(*)::int FROM samples"), 4);
    const write = await refusedOrFailed(
      box.exec(`INSERT INTO ${world.scope.schema}.sites VALUES (9, 'x', 'y', true)`),
    );
    assert.equal(write.code, "25006");
    for (const table of [`${world.other.schema}.secret`, "lg_app.users", "lg_app.sessions"]) {
      const denied = await refusedOrFailed(box.exec(`SELECT * FROM ${table}`));
      assert.equal(denied.code, "42501", table);
    }
  } finally {
    await box.close();
  }
});

backendTest("sessionResetSql() hands the session back to the app", async (t) => {
  const world = await buildWorld(t);
  const box = await openSandbox(t, world.scope);
  await clientQuery(box, world.scope, "SET DateStyle = 'German'; PREPARE p AS SELECT 1");
  await clientQuery(box, world.scope, "BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT");
  // Left inside a failed transaction: the reset must still work.
  await clientQuery(box, world.scope, "BEGIN; SELECT 1/0").catch(() => {});
  await box.close();
  // The app's own queries see the app again (on PGlite it is the same session).
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from lg_app.settings`
    .execute(t.svc.database.root);
  assert.ok(rows[0].n > 0);
  const after = await openSandbox(t, world.scope);
  try {
    assert.equal(await value(after, "SHOW DateStyle"), "ISO, MDY");
    assert.equal((await after.exec("SELECT * FROM pg_cursors"))[0].rows.length, 0);
    assert.equal((await after.exec("SELECT * FROM pg_prepared_statements"))[0].rows.length, 0);
  } finally {
    await after.close();
  }
});

backendTest(
  "analyze() turns DISCARD ALL and RESET ALL into resets that keep the sandbox",
  async (t) => {
    const world = await buildWorld(t);
    const box = await openSandbox(t, world.scope);
    try {
      await clientQuery(box, world.scope, "SET DateStyle = 'German'");
      await clientQuery(box, world.scope, "SET statement_timeout = '2s'");
      await clientQuery(box, world.scope, "PREPARE p AS SELECT 1");
      await clientQuery(box, world.scope, "BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT");
      await clientQuery(box, world.scope, "DISCARD ALL");
      await checkSandboxed(box, world);
      assert.equal(await value(box, "SHOW DateStyle"), "ISO, MDY");
      assert.equal(await value(box, "SHOW statement_timeout"), "5s");
      assert.equal((await box.exec("SELECT * FROM pg_cursors"))[0].rows.length, 0);
      assert.equal((await box.exec("SELECT * FROM pg_prepared_statements"))[0].rows.length, 0);
      await clientQuery(box, world.scope, "SET DateStyle = 'German'; SET statement_timeout = 100");
      await clientQuery(box, world.scope, "RESET ALL");
      await checkSandboxed(box, world);
      assert.equal(await value(box, "SHOW DateStyle"), "ISO, MDY");
      await clientQuery(box, world.scope, "RESET search_path; RESET statement_timeout");
      await checkSandboxed(box, world);
    } finally {
      await box.close();
    }
  },
);

async function checkSandboxed(box: Sandbox, world: World) {
  assert.equal(await value(box, "SELECT current_user"), world.scope.role);
  assert.equal(await value(box, "SHOW search_path"), `pg_catalog, ${world.scope.schema}`);
  assert.equal(await value(box, "SHOW default_transaction_read_only"), "on");
  assert.equal(await value(box, "SHOW statement_timeout"), "5s");
  assert.equal(
    (await clientQuery(box, world.scope, "SELECT current_user"))[0].rows[0].current_user,
    READER,
  );
}

backendTest(
  "analyze() and the engine keep the other folder unreachable by name, OID, regclass and function",
  async (t) => {
    const world = await buildWorld(t);
    const { secret, secretKey, secretType, otherRole } = world.oids;
    const b = world.other.schema;
    const probes = [
      `SELECT * FROM ${b}.secret`,
      `SELECT * FROM secret`,
      `SELECT * FROM lists.secret`,
      `SELECT * FROM "/home/b".lists.secret`,
      `SELECT '${b}.secret'::regclass`,
      `SELECT '${secret}'::regclass`,
      `SELECT ${secret}::regclass::text`,
      `SELECT CAST(${secret} AS regclass)`,
      `SELECT ARRAY[${secret}]::regclass[]`,
      `SELECT ${secretType}::regtype`,
      `SELECT '${b}'::regnamespace`,
      `SELECT to_regclass('${b}.secret')`,
      `SELECT to_regtype('${b}.secret')`,
      `SELECT pg_catalog.pg_get_indexdef(${secretKey})`,
      `SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c WHERE c.conrelid = ${secret}`,
      `SELECT pg_relation_size(${secret}), pg_total_relation_size('${b}.secret')`,
      `SELECT format_type(${secretType}, NULL)`,
      `SELECT obj_description(${secret}, 'pg_class'), col_description(${secret}, 1)`,
      `SELECT pg_table_is_visible(${secret})`,
      `SELECT pg_get_userbyid(${otherRole})`,
      `SELECT * FROM pg_partition_ancestors(${secret})`,
      `SELECT * FROM pg_class WHERE oid = ${secret} OR relname = 'secret'`,
      `SELECT * FROM pg_attribute WHERE attrelid = ${secret}`,
      `SELECT * FROM pg_type WHERE oid = ${secretType}`,
      `SELECT * FROM pg_description WHERE objoid = ${secret}`,
      `SELECT * FROM pg_depend WHERE objid = ${secret} OR refobjid = ${secret}`,
      `SELECT * FROM pg_namespace WHERE nspname LIKE 'lg%'`,
      `SELECT * FROM pg_roles`,
      `SELECT * FROM pg_database`,
      `SELECT * FROM information_schema.tables WHERE table_name = 'secret'`,
      `SELECT * FROM information_schema.table_privileges`,
      `SELECT * FROM information_schema.enabled_roles`,
      `SELECT * FROM pg_authid`,
      `SELECT * FROM pg_stat_activity`,
      `SELECT * FROM pg_prepared_statements`,
      `SELECT current_setting('search_path'), current_setting('labgate.folder_id', true)`,
      `SHOW search_path`,
      `SHOW ALL`,
      `SELECT * FROM pg_settings`,
      `WITH a AS (SELECT * FROM pg_class), pg_class AS (SELECT 1) SELECT relname FROM a`,
      `SELECT query_to_xml('select * from ${b}.secret', true, true, '')`,
      `SET ROLE "${world.other.role}"`,
      `SET search_path = ${b}`,
      `COPY (SELECT * FROM ${b}.secret) TO STDOUT`,
      `EXPLAIN SELECT * FROM pg_class`,
      `EXPLAIN (ANALYZE, COSTS OFF, FORMAT JSON) SELECT * FROM lists.samples s ` +
      `JOIN sites USING (site_id) WHERE s.tableoid = 'lists.samples'::regclass`,
      `EXPLAIN SELECT * FROM samples WHERE label = 'x' ORDER BY sample_id`,
      `SELECT pg_typeof(u), 'core.users'::regclass, c.oid::regclass, format_type(c.reltype, NULL) ` +
      `FROM core.users u, pg_class c WHERE c.relnamespace = 'core'::regnamespace`,
      `SELECT pg_typeof(s), s.tableoid::regclass, to_regclass('lists.samples') FROM lists.samples s`,
    ];
    const box = await openSandbox(t, world.scope);
    try {
      for (const probe of probes) {
        try {
          const answers = await clientQuery(box, world.scope, probe);
          assert.deepEqual(leaks(answers, world), [], probe);
        } catch (error) {
          if (!(error instanceof EngineError)) throw error;
          // Errors may echo what the client typed, never anything else.
          for (const marker of ["lg_", "secret", "/home/b", SECRET_VALUE]) {
            if (marker !== "lg_" && probe.includes(marker)) continue;
            assert.ok(!error.message.includes(marker), `${probe}: ${error.message}`);
          }
          await box.exec("ROLLBACK");
        }
      }
    } finally {
      await box.close();
    }
  },
);

backendTest(
  "analyze() sends reg casts through checks that keep their types and refuse hidden OIDs",
  async (t) => {
    const world = await buildWorld(t);
    const box = await openSandbox(t, world.scope);
    try {
      const [answer] = await clientQuery(
        box,
        world.scope,
        "SELECT c.oid::regclass AS rel, ARRAY[c.reltype]::regtype[] AS types, " +
          "'lists.samples'::regclass AS named, pg_typeof(c.oid::regclass)::text AS kind, " +
          "pg_typeof(CAST(c.reltype AS regtype))::text AS cast_kind " +
          "FROM pg_class c WHERE c.relname = 'samples'",
      );
      assert.deepEqual(answer.fields.map((f) => f.dataTypeID), [2205, 2211, 2205, 25, 25]);
      assert.equal(answer.rows[0].rel, "samples");
      assert.equal(answer.rows[0].named, "samples");
      // The checking domain stays inside the query: its name never shows.
      assert.equal(answer.rows[0].kind, "regclass");
      assert.equal(answer.rows[0].cast_kind, "regtype");
      const hidden = await refusedOrFailed(
        clientQuery(box, world.scope, `SELECT ${world.oids.secret}::regclass`),
      );
      assert.deepEqual([hidden.code, hidden.message], [
        "42P01",
        `relation with OID ${world.oids.secret} does not exist`,
      ]);
    } finally {
      await box.close();
    }
  },
);

backendTest(
  "ensureShadowCatalog() stops pg_sleep() at the statement timeout (PGlite: refuses long sleeps)",
  async (t) => {
    const world = await buildWorld(t, 500);
    const box = await openSandbox(t, world.scope);
    try {
      await clientQuery(box, world.scope, "SELECT pg_sleep(0.01)");
      const started = Date.now();
      const timedOut = await refusedOrFailed(clientQuery(box, world.scope, "SELECT pg_sleep(2)"));
      assert.equal(timedOut.code, "57014");
      assert.ok(Date.now() - started < 1900);
      // PGlite cannot interrupt a running statement, so long sleeps are refused up front there;
      // PostgreSQL stops them at the statement timeout like any other statement.
      const tooLong = await refusedOrFailed(clientQuery(box, world.scope, "SELECT pg_sleep(60)"));
      assert.equal(tooLong.code, t.backend === "pglite" ? "42501" : "57014");
    } finally {
      await box.close();
    }
  },
);

backendTest(
  "hidePhysicalNames() and positionMap() show engine errors in the client's terms",
  async (t) => {
    const world = await buildWorld(t);
    const box = await openSandbox(t, world.scope);
    try {
      const text = "SELECT 'é', s.label, nosuch FROM lists.samples s";
      const error = await refusedOrFailed(clientQuery(box, world.scope, text));
      assert.equal(error.code, "42703");
      assert.equal(error.position, [...text.slice(0, text.indexOf("nosuch"))].length + 1);
      const missing = await refusedOrFailed(clientQuery(box, world.scope, "SELECT * FROM nosuch"));
      assert.deepEqual([missing.code, missing.message, missing.position], [
        "42P01",
        'relation "lists.nosuch" does not exist',
        15,
      ]);
    } finally {
      await box.close();
    }
  },
);

Deno.test("hidePhysicalNames() shows the user's names for schemas, roles and shadows", () => {
  const scope: FolderScope = {
    containerId: 42,
    containerPath: "/home/assays",
    schema: "lg_c42",
    role: "lg_ab12cd34_c42",
    userId: 7,
    userEmail: "ana@example.org",
    readableFolders: [],
    statementTimeoutMs: 1000,
    shownColumns: [],
    phiLevel: "not_phi",
    withheldTables: [],
  };
  assert.equal(
    hidePhysicalNames(
      'relation "lg_c42.x" does not exist; permission denied for role lg_ab12cd34_c42; ' +
        "function lg_catalog.f() in lg_information_schema and core.users; " +
        'schema "lg_c9" and lg_app.users',
      scope,
    ),
    'relation "lists.x" does not exist; permission denied for role ana@example.org; ' +
      "function pg_catalog.f() in information_schema and core.users; " +
      'schema "hidden" and hidden.users',
  );
  assert.equal(hidePhysicalNames("no names here", scope), "no names here");
});

backendTest(
  "set_config() sets what SET may set, within the door's limits, and nothing else",
  async (t) => {
    const world = await buildWorld(t);
    const box = await openSandbox(t, world.scope);
    const max = world.scope.statementTimeoutMs;
    const setConfig = async (name: string, setting: string) => {
      const [answer] = await clientQuery(
        box,
        world.scope,
        `SELECT pg_catalog.set_config('${name}', '${setting}', false)`,
      );
      return Object.values(answer.rows[0])[0];
    };
    try {
      assert.equal(await setConfig("search_path", ""), "lists");
      assert.equal(
        await value(box, "SELECT count(*) FROM samples"),
        await value(
          box,
          `SELECT count(*) FROM ${world.scope.schema}.samples`,
        ),
      );
      assert.match(String(await setConfig("DateStyle", "ISO, MDY")), /^ISO/);
      assert.equal(await setConfig("extra_float_digits", "3"), "3");
      assert.equal(await setConfig("client_encoding", "UTF8"), "UTF8");
      // 0 is pg_dump's "no timeout": the door's own limit.
      const timeout =
        "SELECT setting::int FROM pg_catalog.pg_settings WHERE name = 'statement_timeout'";
      await setConfig("statement_timeout", "0");
      assert.equal(await value(box, timeout), max);
      assert.equal(await setConfig("statement_timeout", "1s"), "1s");
      assert.equal(await setConfig("lock_timeout", "0"), "0");
      for (
        const [name, setting, message] of [
          ["search_path", "lg_app", /search path can only name lists/],
          ["statement_timeout", String(max + 1000), /can only be lowered/],
          ["role", world.other.role, /cannot be changed/],
          ["session_authorization", "postgres", /cannot be changed/],
          ["labgate.folder_id", String(world.other.id), /cannot be changed/],
          ["default_transaction_read_only", "off", /must stay on/],
          ["client_encoding", "LATIN1", /not supported/],
        ] as const
      ) {
        const error = await refusedOrFailed(setConfig(name, setting));
        assert.match(hidePhysicalNames(error.message, world.scope), message, name);
      }
      assert.equal(await value(box, "SELECT current_user"), world.scope.role);
      assert.match(String(await value(box, "SHOW search_path")), new RegExp(world.scope.schema));
    } finally {
      await box.close();
    }
  },
);
