import assert from "node:assert/strict";
import { type Analysis, analyze, type FolderScope } from "../../../src/sql/mod.ts";

const scope: FolderScope = {
  containerId: 42,
  containerPath: "/home/assays",
  schema: "lg_c42",
  role: "lg_test_c42",
  userId: 7,
  userEmail: "ana@example.org",
  readableFolders: [{ id: 42, path: "/home/assays" }],
  statementTimeoutMs: 30_000,
  shownColumns: [],
  phiLevel: "not_phi",
  withheldTables: [],
};

function rewritten(text: string): string {
  const analysis = analyze(text, scope);
  if (!analysis.ok) assert.fail(`refused ${text}: ${JSON.stringify(analysis.refusal)}`);
  return analysis.text;
}

function refusal(text: string) {
  const analysis = analyze(text, scope);
  if (analysis.ok) assert.fail(`allowed ${text}: ${analysis.text}`);
  return analysis.refusal;
}

function kinds(text: string): Analysis & { ok: true } {
  const analysis = analyze(text, scope);
  if (!analysis.ok) assert.fail(`refused ${text}: ${JSON.stringify(analysis.refusal)}`);
  return analysis;
}

Deno.test("analyze() allows what a reader needs and names each statement's kind", () => {
  const cases: [string, string[]][] = [
    ["SELECT 1", ["select"]],
    ["VALUES (1), (2)", ["select"]],
    ["WITH x AS (SELECT 1) SELECT * FROM x", ["select"]],
    ["TABLE lists.samples", ["select"]],
    ["SET DateStyle = 'ISO';SET extra_float_digits = 2;show transaction_isolation", [
      "set",
      "set",
      "show",
    ]],
    ["SHOW TRANSACTION ISOLATION LEVEL", ["show"]],
    ["SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ", ["set"]],
    ["RESET DateStyle", ["reset"]],
    ["begin ", ["begin"]],
    ["START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", ["begin"]],
    ["SAVEPOINT a; RELEASE a; ROLLBACK TO a; COMMIT; ROLLBACK", [
      "savepoint",
      "release",
      "rollback_to",
      "commit",
      "rollback",
    ]],
    ["FETCH 2 IN c; MOVE NEXT IN c; CLOSE c; CLOSE ALL", ["fetch", "move", "close", "close"]],
    ['DEALLOCATE "_PLAN0x1"; DEALLOCATE ALL', ["deallocate", "deallocate"]],
    ["DISCARD PLANS; DISCARD ALL", ["discard", "discard"]],
    ["COPY lists.samples TO STDOUT; COPY (SELECT 1) TO STDOUT WITH (FORMAT csv)", [
      "copy_to",
      "copy_to",
    ]],
    ["PREPARE p(int) AS SELECT $1; EXECUTE p(1)", ["prepare", "execute"]],
    ["EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM lists.samples", ["explain"]],
    ["", ["empty"]],
    ["  -- nothing\n", ["empty"]],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(kinds(text).statements.map((s) => s.kind), expected, text);
  }
  assert.deepEqual(kinds("SET DateStyle = 'ISO'; RESET ALL; DISCARD ALL").statements, [
    { kind: "set", changesSettings: true, oneSetting: "SET" },
    { kind: "reset", changesSettings: true },
    { kind: "discard", changesSettings: true, deallocate: null },
  ]);
  assert.deepEqual(kinds("PREPARE p AS SELECT 1; DEALLOCATE p; DEALLOCATE ALL").statements, [
    { kind: "prepare", pins: true, name: "p" },
    { kind: "deallocate", deallocate: "p" },
    { kind: "deallocate", deallocate: null },
  ]);
  const declare = kinds(
    'BEGIN;declare "SQL_CUR0x1" cursor with hold for SELECT * FROM lists.samples;fetch 2 in "SQL_CUR0x1"',
  );
  assert.deepEqual(declare.statements, [
    { kind: "begin" },
    { kind: "declare", holdCursor: true, name: "SQL_CUR0x1" },
    { kind: "fetch", name: "SQL_CUR0x1" },
  ]);
  assert.deepEqual(
    kinds('DEALLOCATE "_PLAN0x1"; DEALLOCATE PREPARE p; DEALLOCATE ALL; DISCARD PLANS; DISCARD ALL')
      .statements,
    [
      { kind: "deallocate", deallocate: "_PLAN0x1" },
      { kind: "deallocate", deallocate: "p" },
      { kind: "deallocate", deallocate: null },
      { kind: "discard" },
      { kind: "discard", changesSettings: true, deallocate: null },
    ],
  );
  assert.deepEqual(kinds("DECLARE c CURSOR FOR SELECT 1").statements, [
    { kind: "declare", name: "c" },
  ]);
  for (
    const text of [
      "PREPARE lg_1 AS SELECT 1",
      "EXECUTE LG_x",
      'DEALLOCATE "lg_s"',
      "FETCH 1 IN lg_c",
    ]
  ) {
    assert.equal(refusal(text).code, "42939", text);
  }
});

Deno.test("analyze() refuses writes and DDL with 25006", () => {
  for (
    const text of [
      "INSERT INTO lists.samples VALUES (1)",
      "UPDATE lists.samples SET label = 'x'",
      "DELETE FROM samples",
      "MERGE INTO samples s USING sites t ON true WHEN MATCHED THEN DELETE",
      "CREATE TABLE t (a int)",
      "CREATE TEMP TABLE t (a int)",
      "DROP TABLE lists.samples",
      "TRUNCATE samples",
      "GRANT SELECT ON samples TO public",
      "ALTER TABLE samples ADD COLUMN x int",
      "COMMENT ON TABLE samples IS 'x'",
      "VACUUM samples",
      "LOCK TABLE samples",
      "SELECT * INTO t FROM samples",
      "CREATE TABLE t AS SELECT 1",
      "SELECT * FROM samples FOR UPDATE",
      "SELECT * FROM (SELECT * FROM samples FOR SHARE) s",
      "WITH d AS (DELETE FROM samples RETURNING *) SELECT * FROM d",
      "WITH RECURSIVE i AS (INSERT INTO samples VALUES (1) RETURNING *) SELECT 1",
      "BEGIN READ WRITE",
      "START TRANSACTION READ WRITE",
      "SET TRANSACTION READ WRITE",
      "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
      "SET default_transaction_read_only = off",
      "SET transaction_read_only TO false",
      "COPY samples FROM STDIN",
      "PREPARE p AS DELETE FROM samples",
      "EXPLAIN ANALYZE DELETE FROM samples",
      "COPY (DELETE FROM samples RETURNING *) TO STDOUT",
      "SELECT 1; DELETE FROM samples",
    ]
  ) {
    const { code, message } = refusal(text);
    assert.equal(code, "25006", text);
    assert.match(message, /^[A-Z].*[^.]$/, text);
  }
});

Deno.test("analyze() refuses server, session and role access with 42501", () => {
  for (
    const text of [
      "SELECT set_config('labgate.folder_id', '1', false)",
      "SELECT pg_read_file('/etc/passwd')",
      "SELECT pg_catalog.pg_ls_dir('.')",
      "SELECT lo_import('/etc/passwd')",
      "SELECT dblink('x', 'y')",
      "SELECT pg_terminate_backend(1)",
      "SELECT query_to_xml('select 1', true, true, '')",
      "SELECT ts_stat('select 1')",
      "SELECT current_query()",
      "SELECT nextval('s')",
      "SELECT pg_advisory_lock(1)",
      "SELECT inet_server_addr()",
      "SELECT system_user",
      "SELECT 'x'::regrole",
      "SELECT 10::regrole",
      "SET ROLE postgres",
      "SET ROLE NONE",
      "RESET ROLE",
      "SET SESSION AUTHORIZATION DEFAULT",
      "SET work_mem = '1GB'",
      "SET labgate.folder_id = '1'",
      "SET statement_timeout = '1h'",
      "SET search_path = public, lg_c1",
      "SHOW data_directory",
      "SHOW labgate.folder_id",
      "SHOW hba_file",
      "COPY samples TO '/tmp/x'",
      "COPY samples TO PROGRAM 'cat'",
      "DO $$ BEGIN END $$",
      "CALL p()",
      "LISTEN x",
      "NOTIFY x",
      "LOAD 'x'",
      "EXPLAIN VERBOSE SELECT 1",
      "EXPLAIN (SETTINGS) SELECT 1",
    ]
  ) {
    const { code, message } = refusal(text);
    assert.equal(code, "42501", text);
    assert.match(message, /^[A-Z].*[^.]$/, text);
    assert.ok(!message.includes("lg_c42"), text);
  }
  assert.deepEqual(refusal("SELECT rolpassword FROM pg_authid"), {
    code: "42501",
    message: "permission denied for table pg_authid",
    position: 25,
  });
  assert.equal(refusal("SELECT * FROM pg_catalog.pg_statistic").code, "42501");
  assert.equal(refusal("SET client_encoding = 'LATIN1'").code, "0A000");
  assert.equal(refusal("SET standard_conforming_strings = off").code, "0A000");
  assert.equal(refusal("PREPARE TRANSACTION 'x'").code, "0A000");
  assert.equal(refusal("EXPLAIN ANALYZE SELECT * FROM pg_class").code, "0A000");
  assert.equal(refusal("EXPLAIN (COSTS) SELECT current_user").code, "0A000");
  assert.equal(refusal("EXPLAIN SELECT * FROM core.users").code, "0A000");
  assert.equal(refusal("EXPLAIN SELECT relname FROM pg_class WHERE oid = $1").code, "0A000");
  kinds("SET statement_timeout = '5s'; SET LOCAL statement_timeout = 1000");
  kinds('SET search_path = lists, "$user"');
});

Deno.test("analyze() answers names outside the folder as missing, with their position", () => {
  const cases: [string, string, string, number][] = [
    ["SELECT * FROM lg_c7.secret", "42P01", 'relation "lg_c7.secret" does not exist', 15],
    ["SELECT 1 FROM public.t", "42P01", 'relation "public.t" does not exist', 15],
    [
      "SELECT * FROM lg_catalog.pg_class",
      "42P01",
      'relation "lg_catalog.pg_class" does not exist',
      15,
    ],
    ["SELECT * FROM lg_app.users", "42P01", 'relation "lg_app.users" does not exist', 15],
    ["SELECT 'é' || x FROM \"Lists\".t", "42P01", 'relation "Lists.t" does not exist', 22],
    ["SELECT 'lg_c7.secret'::regclass", "42P01", 'relation "lg_c7.secret" does not exist', 8],
    ["SELECT 'public.t'::pg_catalog.regclass", "42P01", 'relation "public.t" does not exist', 8],
    ["SELECT 'lg_c7.secret'::regtype", "42704", 'type "lg_c7.secret" does not exist', 8],
    ["SELECT 'lg_c7'::regnamespace", "3F000", 'schema "lg_c7" does not exist', 8],
    ["SELECT NULL::lg_c7.secret", "42704", 'type "lg_c7.secret" does not exist', 14],
    [
      "SELECT lg_catalog.current_setting('x')",
      "42883",
      "function lg_catalog.current_setting does not exist",
      8,
    ],
    ["SELECT 1 OPERATOR(public.=) 1", "42883", "operator does not exist: public.=", 10],
    ["SELECT 'a' COLLATE public.c", "42704", 'collation "public.c" does not exist', 12],
    [
      'SELECT * FROM "/home/other".lists.t',
      "0A000",
      "cross-database references are not implemented: /home/other.lists.t",
      15,
    ],
  ];
  for (const [text, code, message, position] of cases) {
    assert.deepEqual(refusal(text), { code, message, position }, text);
  }
  assert.deepEqual(refusal("select 1;\nselect * from lg_app.users; select 2"), {
    code: "42P01",
    message: 'relation "lg_app.users" does not exist',
    position: 25,
    detail: "Statement 2 of 3 in this query string was refused, so none of them ran.",
  });
});

Deno.test("analyze() reports syntax errors at the client's character position", () => {
  assert.deepEqual(refusal("SELECT 'é' || FROM"), {
    code: "42601",
    message: 'syntax error at or near "FROM"',
    position: 15,
  });
  assert.deepEqual(refusal("SELEC 1"), {
    code: "42601",
    message: 'syntax error at or near "SELEC"',
    position: 1,
  });
});

Deno.test("analyze() rewrites names to the folder's physical schema and the shadow catalog", () => {
  const cases: [string, string][] = [
    ["select * from lists.samples", "select * from lg_c42.samples"],
    ["select * from samples s", "select * from lg_c42.samples s"],
    ['select * from "lists"."Sample Data"', 'select * from lg_c42."Sample Data"'],
    [
      "select * from LISTS.samples, ONLY lists.sites",
      "select * from lg_c42.samples, ONLY lg_c42.sites",
    ],
    ['select * from "/home/assays".lists.samples', "select * from lg_c42.samples"],
    ["select relname from pg_class", "select relname from lg_catalog.pg_class"],
    [
      "select * from pg_catalog.pg_class c join pg_catalog.pg_namespace n on true",
      "select * from lg_catalog.pg_class c join lg_catalog.pg_namespace n on true",
    ],
    ["select * from information_schema.tables", "select * from lg_information_schema.tables"],
    ["select * from core.users", "select * from core.users"],
    [
      "select lists.samples.label from lists.samples",
      "select lg_c42.samples.label from lg_c42.samples",
    ],
    [
      "select pg_catalog.pg_class.relname from pg_class",
      "select lg_catalog.pg_class.relname from lg_catalog.pg_class",
    ],
    ["select null::lists.samples", "select null::lg_c42.samples"],
    ["copy lists.samples to stdout", "copy lg_c42.samples to stdout"],
  ];
  for (const [text, expected] of cases) assert.equal(rewritten(text), expected, text);
});

Deno.test("analyze() splices only real references: comments, strings and multibyte text stay", () => {
  assert.equal(
    rewritten(
      "/* lists.x */ select 'lists.y', $$ from lists.z $$, 'héllo ✓ 𝄞' -- lists.w\n from lists.samples",
    ),
    "/* lists.x */ select 'lists.y', $$ from lists.z $$, 'héllo ✓ 𝄞' -- lists.w\n from lg_c42.samples",
  );
  assert.equal(
    rewritten("select 'ü' as \"Größe\", * from samples; select 1 from sites"),
    "select 'ü' as \"Größe\", * from lg_c42.samples; select 1 from lg_c42.sites",
  );
});

Deno.test("analyze() keeps tokens apart where the client wrote no space", () => {
  assert.equal(
    rewritten('select*from"lists"."samples"join samples using(sample_id)'),
    'select*from lg_c42."samples"join lg_c42.samples using(sample_id)',
  );
  assert.equal(rewritten('select"current_schema"()'), 'select lg_catalog."current_schema"()');
  assert.equal(rewritten("select(current_user)"), 'select(lg_catalog."current_user"())');
});

Deno.test("analyze() resolves CTE names as PostgreSQL scopes them", () => {
  assert.equal(
    rewritten("with samples as (select 1) select * from samples"),
    "with samples as (select 1) select * from samples",
  );
  assert.equal(
    rewritten(
      "with a as (select * from pg_class), pg_class as (select 1) select * from a, pg_class",
    ),
    "with a as (select * from lg_catalog.pg_class), pg_class as (select 1) select * from a, pg_class",
  );
  assert.equal(
    rewritten("with recursive t(n) as (select 1 union all select n + 1 from t) select * from t"),
    "with recursive t(n) as (select 1 union all select n + 1 from t) select * from t",
  );
  assert.equal(
    rewritten("select * from (with x as (select 1) select * from x) s, x"),
    "select * from (with x as (select 1) select * from x) s, lg_c42.x",
  );
});

Deno.test("analyze() redirects functions and keywords that print names", () => {
  const cases: [string, string][] = [
    [
      "select current_user, session_user, user, current_role, current_catalog, current_schema",
      'select lg_catalog."current_user"(), lg_catalog."session_user"(), lg_catalog."user"(), ' +
      'lg_catalog."current_role"(), lg_catalog."current_catalog"(), lg_catalog."current_schema"()',
    ],
    [
      "select current_database(), version(), now()",
      'select lg_catalog."current_database"(), lg_catalog."version"(), now()',
    ],
    [
      "select pg_catalog.pg_get_indexdef(i.indexrelid, 0, true) from pg_index i",
      'select lg_catalog."pg_get_indexdef"(i.indexrelid, 0, true) from lg_catalog.pg_index i',
    ],
    ["select (current_schemas(true))[1]", 'select (lg_catalog."current_schemas"(true))[1]'],
    [
      "select count(*), extract(year from now()), trim(both '\"' from 'x')",
      "select count(*), extract(year from now()), trim(both '\"' from 'x')",
    ],
    [
      "select information_schema._pg_expandarray(array[1])",
      "select information_schema._pg_expandarray(array[1])",
    ],
  ];
  for (const [text, expected] of cases) assert.equal(rewritten(text), expected, text);
});

Deno.test("analyze() checks reg-type casts: names resolve like tables, OIDs go through a check", () => {
  const cases: [string, string][] = [
    ["select 'lists.samples'::regclass", "select 'lg_c42.samples'::regclass"],
    [
      "select 'samples'::regclass, 'pg_class'::regclass",
      "select 'samples'::regclass, 'pg_class'::regclass",
    ],
    ["select 'pg_catalog.array_in'::regproc", "select 'pg_catalog.array_in'::regproc"],
    [
      "select c.oid::regclass from pg_class c",
      "select c.oid::lg_catalog.regclass::pg_catalog.regclass from lg_catalog.pg_class c",
    ],
    [
      "select '16398'::pg_catalog.regclass",
      "select '16398'::lg_catalog.regclass::pg_catalog.regclass",
    ],
    [
      "select x::regtype[] from t",
      "select x::lg_catalog.regtype[]::pg_catalog.regtype[] from lg_c42.t",
    ],
    [
      "select cast(x as regproc), CAST(y AS regtype[]) from t",
      "select cast(x as lg_catalog.regproc)::pg_catalog.regproc, " +
      "CAST(y AS lg_catalog.regtype[])::pg_catalog.regtype[] from lg_c42.t",
    ],
    ["select 'lists'::regnamespace", "select 'lg_c42'::pg_catalog.regnamespace::pg_catalog.oid"],
    ["select 'lists.samples'::regtype", "select 'lg_c42.samples'::regtype"],
    ["prepare p(regclass) as select $1", "prepare p(lg_catalog.regclass) as select $1"],
    ["select 'int4'::regtype, '+'::regoper", "select 'int4'::regtype, '+'::regoper"],
  ];
  for (const [text, expected] of cases) assert.equal(rewritten(text), expected, text);
});

Deno.test("analyze() explains catalog queries without costs, through lg_catalog.explain()", () => {
  assert.equal(
    rewritten("select 1; EXPLAIN SELECT relname FROM pg_class WHERE relname = 'it''s'"),
    "select 1; SELECT * FROM lg_catalog.explain('EXPLAIN (COSTS OFF) SELECT relname FROM " +
      "lg_catalog.pg_class WHERE relname = ''it''''s''')",
  );
  assert.equal(
    rewritten("explain (format json) select current_user, s.id from lists.samples s"),
    "SELECT * FROM lg_catalog.explain('explain (COSTS OFF, format json) select " +
      'lg_catalog."current_user"(), s.id from lg_c42.samples s\')',
  );
  assert.equal(
    rewritten("EXPLAIN SELECT * FROM lists.samples"),
    "EXPLAIN SELECT * FROM lg_c42.samples",
  );
});

Deno.test("analyze() keeps the sandbox when a client resets settings", () => {
  const cases: [string, string][] = [
    ["RESET ALL", "CALL lg_catalog.reset_all()"],
    ["DISCARD ALL", "CALL lg_catalog.discard_all()"],
    ["RESET statement_timeout", "SET statement_timeout = 30000"],
    ["SET LOCAL search_path TO DEFAULT", "SET LOCAL search_path = pg_catalog, lg_c42"],
    ["SET search_path = lists", "SET search_path = pg_catalog, lg_c42"],
    ["SET SCHEMA 'lists'", "SET search_path = pg_catalog, lg_c42"],
    ["RESET default_transaction_read_only", "SET default_transaction_read_only = on"],
    ["SHOW search_path", "SELECT lg_catalog.current_setting('search_path') AS search_path"],
    [
      "SHOW ALL",
      "SELECT name, setting, short_desc AS description FROM lg_catalog.pg_settings ORDER BY name",
    ],
    ["select 1; reset all; select 2", "select 1; CALL lg_catalog.reset_all(); select 2"],
  ];
  for (const [text, expected] of cases) assert.equal(rewritten(text), expected, text);
});

Deno.test("analyze() maps engine error positions back to the client's text", () => {
  const text = "select 'é', x.label, nosuch from lists.samples x where 𝄞 = 1";
  const analysis = kinds(text);
  const chars = (s: string, part: string) => [...s.slice(0, s.indexOf(part))].length + 1;
  assert.equal(analysis.positionMap(chars(analysis.text, "nosuch")), chars(text, "nosuch"));
  assert.equal(analysis.positionMap(chars(analysis.text, "𝄞")), chars(text, "𝄞"));
  // A position inside a replacement maps to the start of what it replaced.
  assert.equal(analysis.positionMap(chars(analysis.text, "42.samples")), chars(text, "lists"));
  const unchanged = kinds("select nosuch");
  assert.equal(unchanged.positionMap(8), 8);
});

Deno.test("analyze() caches by folder and text", () => {
  const text = "select * from lists.samples where label = 'a'";
  assert.equal(analyze(text, scope), analyze(text, scope));
  const other = analyze(text, { ...scope, containerId: 43, schema: "lg_c43" });
  assert.ok(other.ok && other.text.includes("lg_c43.samples"));
});

Deno.test("analyze() shares one analysis among texts that differ only in numbers", () => {
  const first = kinds("select label, 42 from lists.samples x where x.sample_id = 7");
  const second = kinds("select label, 1.5e3 from lists.samples x where x.sample_id = 123456");
  assert.equal(first.statements, second.statements);
  assert.equal(first.text, "select label, 42 from lg_c42.samples x where x.sample_id = 7");
  assert.equal(second.text, "select label, 1.5e3 from lg_c42.samples x where x.sample_id = 123456");
  const text = "select nosuch, 1.5e3 from lists.samples x where x.sample_id = 123456 and é = 7";
  const analysis = kinds(text);
  const chars = (s: string, part: string) => [...s.slice(0, s.indexOf(part))].length + 1;
  for (const part of ["nosuch", "1.5e3", ".5e3", "x where", "123456", "3456", "é", "7"]) {
    assert.equal(analysis.positionMap(chars(analysis.text, part)), chars(text, part), part);
  }
  assert.equal(analysis.positionMap(chars(analysis.text, "42.samples")), chars(text, "lists"));
});

Deno.test("analyze() checks numbers where the sandbox reads them", () => {
  assert.equal(rewritten("SET statement_timeout = 5000"), "SET statement_timeout = 5000");
  assert.equal(refusal("SET statement_timeout = 99999999").code, "42501");
  // pg_dump's "no timeout" is the door's longest.
  assert.equal(rewritten("SET statement_timeout = 0"), "SET statement_timeout = 30000");
  assert.equal(rewritten("FETCH 5 FROM c"), "FETCH 5 FROM c");
  assert.equal(
    rewritten("select 'lists.samples'::regclass, 5::regclass"),
    "select 'lg_c42.samples'::regclass, 5::lg_catalog.regclass::pg_catalog.regclass",
  );
  assert.equal(refusal("update lists.samples set label = 5").code, "25006");
  assert.equal(refusal("select 1 from other.samples where 2 = 3").position, 15);
});

Deno.test("analyze() reads a list with withheld columns as its visible ones and refuses naming one", () => {
  const phi: FolderScope = {
    ...scope,
    phiLevel: "limited",
    withheldTables: [{
      table: "patients",
      visible: ["id", "site"],
      withheld: [{ column: "mrn", relation: 1, attnum: 3, message: 'Column "Mrn" needs full' }],
    }],
  };
  const read = (text: string) => {
    const analysis = analyze(text, phi);
    if (!analysis.ok) assert.fail(`refused ${text}: ${JSON.stringify(analysis.refusal)}`);
    return analysis.text;
  };
  const subquery = '(SELECT "id", "site" FROM lg_c42."patients")';
  assert.equal(read("select * from patients"), `select * from ${subquery} "patients"`);
  assert.equal(read("select p from lists.patients as p"), `select p from ${subquery} as p`);
  assert.equal(read("TABLE patients"), `SELECT * FROM ${subquery} "patients"`);
  assert.equal(read("select * from only patients p"), `select * from ${subquery} p`);
  assert.equal(
    read("select lists.patients.site from lists.patients"),
    `select patients.site from ${subquery} "patients"`,
  );
  assert.equal(
    read("copy patients (site) to stdout"),
    'copy (SELECT "site" FROM lg_c42."patients") to stdout',
  );
  assert.equal(
    read("lock table lists.patients in access share mode"),
    "lock table lg_c42.patients in access share mode",
  );
  // Another relation's column of the same name is that relation's.
  assert.equal(
    read("select s.mrn from patients p, samples s"),
    `select s.mrn from ${subquery} p, lg_c42.samples s`,
  );
  assert.equal(
    read("with patients as (select 1 as mrn) select mrn from patients"),
    "with patients as (select 1 as mrn) select mrn from patients",
  );
  for (
    const text of [
      "select mrn from patients",
      "select x.mrn from (table patients) x",
      "select (p).mrn from patients p",
      "copy patients (mrn) to stdout",
    ]
  ) {
    const analysis = analyze(text, phi);
    assert.ok(!analysis.ok, text);
    assert.deepEqual([analysis.refusal.code, analysis.refusal.message], [
      "42501",
      'Column "Mrn" needs full',
    ]);
  }
  assert.equal(
    (analyze("select id, mrn from patients", phi) as { refusal: { position: number } }).refusal
      .position,
    12,
  );
});
