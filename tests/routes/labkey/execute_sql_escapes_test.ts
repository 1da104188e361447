/**
 * LabKey executeSql reads the folder's lists and nothing else: each way out
 * that the sandbox refuses (other folders, labgate's own tables, the
 * catalogs, functions that reach the server, writes, locks, several
 * statements) answers 400 and shows nothing it reached.
 */
import assert from "node:assert/strict";
import { createApp } from "../../../routes/mod.ts";
import { createContainer, setPolicy } from "../../../src/data/containers.ts";
import { createList } from "../../../src/data/lists.ts";
import { insertRows } from "../../../src/data/rows.ts";
import { createUser } from "../../../src/data/users.ts";
import { folderSchema } from "../../../src/data/physical.ts";
import { backendTest, type TestContext } from "../../_support/backends.ts";
import { TestBrowser } from "../../_support/http.ts";

const READER = { email: "rita@example.org", password: "reader-password" };
/** A value only another folder's list holds: no answer may contain it. */
const SECRET = "other-folder-secret-42";

/** /home/lab (samples) that Rita reads, and /home/other (vault) that she cannot. */
async function setUp(t: TestContext) {
  const reader = await createUser(t.svc, t.admin, { ...READER, displayName: "Rita" });
  for (const name of ["lab", "other"]) {
    await createContainer(t.svc, t.admin, { parentPath: "/home", name, inheritPolicy: false });
  }
  await setPolicy(t.svc, t.admin, "/home/lab", {
    inherit: false,
    assignments: [{ principalId: reader.id, role: "reader" }],
  });
  await setPolicy(t.svc, t.admin, "/home/other", { inherit: false, assignments: [] });
  const samples = await createList(t.svc, t.admin, "/home/lab", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }],
  });
  await insertRows(t.svc, t.admin, samples, [{ Name: "alpha" }]);
  const vault = await createList(t.svc, t.admin, "/home/other", {
    name: "vault",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Word", type: "Text" }],
  });
  await insertRows(t.svc, t.admin, vault, [{ Word: SECRET }]);
  const browser = new TestBrowser(createApp(t.svc));
  assert.equal((await browser.json("POST", "/api/login", READER)).status, 200);
  const whoami = await (await browser.get("/home/login-whoami.api")).json();
  const run = async (sql: string) => {
    const response = await browser.json(
      "POST",
      "/home/lab/query-executeSql.api",
      { schemaName: "lists", sql },
      { "X-LABKEY-CSRF": whoami.CSRF },
    );
    return { status: response.status, text: await response.text() };
  };
  return { run, other: folderSchema(vault.container.id) };
}

backendTest("executeSql() refuses every way out of the folder's lists", async (t) => {
  const { run, other } = await setUp(t);
  assert.equal((await run("select name from samples")).status, 200);
  const escapes = [
    // Other folders' lists and labgate's own tables.
    `select * from ${other}.vault`,
    `select * from "${other}"."vault"`,
    `table ${other}.vault`,
    `select * from only ${other}.vault`,
    `select * from "/home/other".lists.vault`,
    `select * from "/home/lab".${other}.vault`,
    "select * from vault",
    "select * from lg_app.users",
    "select email from lg_app.users",
    "select * from public.anything",
    `select * from samples s join ${other}.vault v on true`,
    `select * from samples where exists (select 1 from ${other}.vault)`,
    `select (select word from ${other}.vault limit 1) from samples`,
    `select * from samples, lateral (select * from ${other}.vault) v`,
    `with v as (select * from ${other}.vault) select * from v`,
    `with samples as (select 1) select * from ${other}.vault`,
    `select * from samples union all select * from ${other}.vault`,
    // The catalogs.
    "select * from pg_catalog.pg_class",
    "select * from pg_class",
    "select * from pg_authid",
    "select * from information_schema.tables",
    "select * from core.users",
    "select * from lg_catalog.pg_class",
    "with pg_roles as (select * from pg_roles) select * from pg_roles",
    // Functions that reach the server, the files or other tables.
    "select * from pg_ls_dir('.')",
    "select pg_read_file('/etc/passwd')",
    "select pg_catalog.pg_read_file('/etc/passwd')",
    "select lo_import('/etc/passwd')",
    "select current_setting('data_directory')",
    "select set_config('role', 'postgres', false)",
    "select pg_catalog.set_config('role', 'postgres', false)",
    "select pg_sleep(1)",
    `select query_to_xml('select * from ${other}.vault', true, true, '')`,
    "select lg_app.anything()",
    "select public.anything()",
    "select dblink('dbname=postgres', 'select 1')",
    "select pg_terminate_backend(1)",
    "select txid_current()",
    "select nextval('lg_app.users_id_seq')",
    // Writes, locks and more than one statement.
    "delete from samples",
    "update samples set name = 'x'",
    "insert into samples (name) values ('x')",
    "with x as (update samples set name = 'x' returning *) select * from x",
    "with x as (insert into samples (name) values ('x') returning *) select * from x",
    "select * into lists.copy from samples",
    "select * into temp t from samples",
    "select * from samples for update",
    "select * from samples for share",
    "select 1; select 2",
    `select 1; select * from ${other}.vault`,
    "copy samples to stdout",
    "explain select * from samples",
    "set role postgres",
    "show data_directory",
    "create table lists.x (i int)",
    "do $$ begin perform 1; end $$",
  ];
  for (const sql of escapes) {
    const answer = await run(sql);
    assert.equal(answer.status, 400, `${sql}: ${answer.text}`);
    assert.match(answer.text, /"success":false/, sql);
    assert.doesNotMatch(answer.text, new RegExp(SECRET), sql);
  }
  // Nothing was written.
  const after = await run("select name from samples");
  assert.match(after.text, /"rowCount":1\b/);
  assert.match(after.text, /"alpha"/);
});

backendTest(
  "executeSql() refuses what would name other folders' objects or labgate's roles",
  async (t) => {
    const { run } = await setUp(t);
    for (
      const sql of [
        "select 16384::regclass",
        "select cast(16384 as regclass)",
        "select 'lg_app.users'::regclass::oid",
        "select '{1}'::regclass[]",
        "select 1::regnamespace",
        "select 1::regrole",
        "select current_user",
        "select session_user",
        "select current_schema",
        "select current_catalog",
      ]
    ) {
      const answer = await run(sql);
      assert.equal(answer.status, 400, `${sql}: ${answer.text}`);
      assert.match(answer.text, /is not allowed in executeSql/, sql);
      assert.doesNotMatch(answer.text, /lg_/, sql);
    }
  },
);

backendTest(
  "executeSql() calls what the sandbox allows and takes a statement ending in a comment",
  async (t) => {
    const { run } = await setUp(t);
    const answer = await run(
      "select upper(name) as big, md5(name) = md5('alpha') as same from samples -- the one row",
    );
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.text, /"big":"ALPHA","same":true/);
    const quoted = await run('select "Name" from lists."Samples";');
    assert.equal(quoted.status, 200, quoted.text);
    assert.match(quoted.text, /"Name":"alpha"/);
  },
);
