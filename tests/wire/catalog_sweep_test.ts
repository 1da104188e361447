/**
 * The whole catalog as a Reader sees it through the SQL door, after ANALYZE:
 * every shadow view, every set-returning function the sandbox allows, the
 * server's own functions and settings, and errors raised inside the shadow
 * catalog. No byte may name a physical schema, table or role, the host's
 * version, OS or paths.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest, type TestContext } from "../_support/backends.ts";
import { ALLOWED_FUNCTIONS, SHADOWED_FUNCTIONS, VISIBLE_SETTINGS } from "../../src/sql/policy.ts";
import { decodeFields, query } from "../../wire/protocol/messages.ts";
import { type Message, rowsOf, text } from "./_client.ts";
import { connectRawClient, openDoor, SECRET_FOLDER } from "./_door.ts";
import { shadowViews } from "./_catalog.ts";

/** One call of each set-returning function the sandbox allows, as a client would write it. */
const SET_RETURNING_CALLS: Record<string, string> = {
  generate_series: "select * from generate_series(1, 2)",
  generate_subscripts: "select * from generate_subscripts(array[1, 2], 1)",
  unnest: "select * from unnest(array[1, 2])",
  regexp_matches: "select * from regexp_matches('ab', '(a)(b)')",
  regexp_split_to_table: "select * from regexp_split_to_table('a b', ' ')",
  string_to_table: "select * from string_to_table('a,b', ',')",
  json_each: `select * from json_each('{"a": 1}')`,
  jsonb_each: `select * from jsonb_each('{"a": 1}')`,
  json_each_text: `select * from json_each_text('{"a": 1}')`,
  jsonb_each_text: `select * from jsonb_each_text('{"a": 1}')`,
  json_object_keys: `select * from json_object_keys('{"a": 1}')`,
  jsonb_object_keys: `select * from jsonb_object_keys('{"a": 1}')`,
  json_array_elements: "select * from json_array_elements('[1, 2]')",
  jsonb_array_elements: "select * from jsonb_array_elements('[1, 2]')",
  json_array_elements_text: "select * from json_array_elements_text('[1, 2]')",
  jsonb_array_elements_text: "select * from jsonb_array_elements_text('[1, 2]')",
  json_populate_recordset:
    `select * from json_populate_recordset(null::lists.samples, '[{"id": 1}]')`,
  jsonb_populate_recordset:
    `select * from jsonb_populate_recordset(null::lists.samples, '[{"id": 1}]')`,
  json_to_recordset: `select * from json_to_recordset('[{"a": 1}]') as x(a int)`,
  jsonb_to_recordset: `select * from jsonb_to_recordset('[{"a": 1}]') as x(a int)`,
  jsonb_path_query: `select * from jsonb_path_query('{"a": [1, 2]}', '$.a[*]')`,
  jsonb_path_query_tz: `select * from jsonb_path_query_tz('{"a": [1, 2]}', '$.a[*]')`,
  pg_get_keywords: "select * from pg_get_keywords()",
  pg_options_to_table: "select * from pg_options_to_table(array['fillfactor=70'])",
  pg_partition_tree: "select * from pg_partition_tree('lists.samples')",
  pg_partition_ancestors: "select * from pg_partition_ancestors('lists.samples')",
};

/** Words of build strings that name a distributor, OS, compiler or engine. */
const HOST_WORDS = ["Debian", "Ubuntu", "Red Hat", "PGlite", "emscripten", "Emscripten", "gcc"];

/** What a client could learn of the server: physical names and the host's own strings. */
async function secrets(t: TestContext, hiddenFolderId: number): Promise<string[]> {
  const root = t.svc.database.root;
  const settings = (await sql<{ name: string; setting: string }>`
    select name, setting from pg_catalog.pg_settings
    where name in ('data_directory', 'config_file', 'hba_file', 'ident_file',
      'unix_socket_directories', 'server_version', 'server_version_num', 'external_pid_file')
    union all select 'version', pg_catalog.version()`.execute(root)).rows;
  const found = ["lg_", `"${SECRET_FOLDER}"`, "top secret", Deno.hostname()];
  for (const { name, setting } of settings) {
    if (!setting) continue;
    if (name === "version") {
      // The build's own words: distributor, platform triple, compiler, PGlite.
      found.push(setting.replace(/^PostgreSQL \S+ /, ""));
      found.push(...setting.split(/[\s,()]+/).filter((w) => /[a-z].*-|-.*[a-z]/i.test(w)));
      found.push(...HOST_WORDS.filter((word) => setting.includes(word)));
    } else if (name === "server_version_num") {
      if (!setting.endsWith("0000")) found.push(setting);
    } else if (name === "server_version") {
      if (!/^\d+\.0$/.test(setting)) found.push(setting);
    } else found.push(setting);
  }
  found.push(`c${hiddenFolderId}`);
  // "PostgreSQL" is the protocol labgate speaks; "compiled" and "version" are plain words.
  return found.filter((s) => !["PostgreSQL", "compiled", "version"].includes(s));
}

backendTest(
  "a Reader sweeping the whole catalog after ANALYZE sees nothing physical or host-specific",
  async (t) => {
    await using fx = await openDoor(t);
    const root = t.svc.database.root;
    await sql`analyze`.execute(root);
    const hidden = await t.svc.db.selectFrom("containers").select("id")
      .where("path", "=", SECRET_FOLDER).executeTakeFirstOrThrow();
    const forbidden = await secrets(t, hidden.id);
    const internalTables = (await sql<{ name: string }>`
      select relname as name from pg_catalog.pg_class
      where relnamespace = 'lg_app'::regnamespace and relkind in ('r', 'p') and pg_catalog.strpos(relname, '_') > 0
        and relname not in (select relname from pg_catalog.pg_class
          where relnamespace = 'core'::regnamespace)`.execute(root)).rows.map((r) => r.name);
    const views = await shadowViews(t);
    const setReturning = (await sql<{ name: string }>`
      select distinct proname as name from pg_catalog.pg_proc
      where proretset and pronamespace = 'pg_catalog'::regnamespace order by 1`.execute(root))
      .rows.map((r) => r.name)
      .filter((name) => ALLOWED_FUNCTIONS.has(name) || SHADOWED_FUNCTIONS.has(name));
    assert.ok(views.length > 100 && setReturning.length > 10, "the sweep finds the catalog");
    assert.deepEqual(
      setReturning.filter((name) => !(name in SET_RETURNING_CALLS)),
      [],
      "every set-returning function the sandbox allows has a call in the sweep",
    );
    const statements = [
      ...views.map((view) => `select * from ${view}`),
      ...setReturning.map((name) => SET_RETURNING_CALLS[name]),
      "select version(), pg_catalog.version()",
      "select current_user, session_user, current_role, user, current_schema, current_catalog",
      "select current_database(), current_schemas(true), pg_backend_pid()",
      "select * from current_user, session_user as s, current_role as r",
      "values (current_user, user), (session_user, current_role)",
      "copy (select current_user, current_setting('role')) to stdout",
      "explain select current_user from pg_class",
      "select current_setting('session_authorization'), current_setting('is_superuser')",
      "show all",
      ...[...VISIBLE_SETTINGS].map((name) => `show ${name}`),
      ...[...VISIBLE_SETTINGS].map((name) => `select current_setting('${name}')`),
      // Errors raised inside the shadow catalog's own functions.
      "select pg_get_viewdef('lists.nothing')",
      "select has_schema_privilege('nowhere', 'usage')",
      "select 'lists'::regnamespace",
      "select 1::regclass, 99999999::regclass",
      "select pg_sleep(-1), current_setting('data_directory')",
    ];
    const leaks: string[] = [];
    const check = (what: string, messages: Message[]) => {
      const received = text(messages);
      for (const secret of forbidden) {
        // Numbers (a minor version) count only standing alone, not inside a time or a count.
        const at = /^[\d.]+$/.test(secret)
          ? received.search(new RegExp(`(?<![\\d.])${secret.replaceAll(".", "\\.")}(?![\\d.])`))
          : received.indexOf(secret);
        if (at >= 0) {
          leaks.push(`${what}: "${secret}" in …${received.slice(Math.max(0, at - 60), at + 60)}…`);
        }
      }
      for (const m of messages.filter((m) => m.type === "D")) {
        const row = new TextDecoder().decode(m.bytes);
        for (const table of internalTables) {
          if (new RegExp(`(^|[^\\w])${table}([^\\w]|$)`).test(row)) {
            leaks.push(`${what}: labgate's table ${table} in a row`);
          }
        }
      }
    };
    await using client = await connectRawClient(fx.port);
    check("login", [{ type: "S", bytes: new TextEncoder().encode([...client.parameters].join()) }]);
    for (const statement of statements) {
      client.send(query(statement));
      check(statement, await client.until("Z", 60_000));
    }
    assert.deepEqual(leaks, []);
  },
);

backendTest(
  "pg_stats shows the statistics of the folder's lists under their visible names, and only those",
  async (t) => {
    await using fx = await openDoor(t);
    await sql`analyze`.execute(t.svc.database.root);
    await using client = await connectRawClient(fx.port);
    client.send(query(
      "select distinct schemaname, tablename from pg_stats union all " +
        "select distinct schemaname, relname from pg_stat_all_tables order by 1, 2",
    ));
    assert.deepEqual(rowsOf(await client.until()), [["lists", "samples"], ["lists", "samples"]]);
    client.send(query("select most_common_vals from pg_stats where attname = 'label'"));
    assert.match(String(rowsOf(await client.until())[0]?.[0] ?? ""), /alpha|gamma|^$/);
  },
);

backendTest(
  "version() and server_version name labgate and the engine's major version",
  async (t) => {
    await using fx = await openDoor(t);
    await using client = await connectRawClient(fx.port);
    client.send(query(
      "select version(), current_setting('server_version'), current_setting('server_version_num')",
    ));
    const [[version, setting, number]] = rowsOf(await client.until());
    const major = Number(number) / 10000;
    assert.ok(Number.isInteger(major) && major >= 15, `server_version_num ${number}`);
    assert.equal(version, `PostgreSQL ${major}.0 (labgate) SQL door, PostgreSQL protocol 3.0`);
    assert.equal(setting, `${major}.0 (labgate)`);
    assert.equal(client.parameters.get("server_version"), setting);
    // SQLAlchemy's and DBeaver's reading of version().
    assert.deepEqual(/PostgreSQL (\d+)\.?(\d+)?/.exec(version!)?.slice(1), [String(major), "0"]);
  },
);

backendTest(
  "errors raised inside the shadow catalog carry no context lines or internal queries",
  async (t) => {
    await using fx = await openDoor(t);
    await using client = await connectRawClient(fx.port);
    for (
      const statement of [
        "select pg_get_viewdef('lists.nothing')",
        "select has_schema_privilege('nowhere', 'usage')",
        "select current_setting('data_directory')",
      ]
    ) {
      client.send(query(statement));
      const error = (await client.until()).find((m) => m.type === "E");
      assert.ok(error, statement);
      const fields = decodeFields(error.bytes).map(([code]) => String.fromCharCode(code));
      assert.deepEqual(fields.filter((f) => "Wqp".includes(f)), [], statement);
    }
  },
);
