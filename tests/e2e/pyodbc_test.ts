import assert from "node:assert/strict";
import { backendTest, type TestContext } from "../_support/backends.ts";
import { ALICE, FOLDER, openDoor, SAMPLE_COLUMNS } from "../wire/_door.ts";
import { installed, PYTHON, type Run, runPython, skipped } from "./_clients.ts";

/** What pyodbc over unixODBC + psqlODBC does through the door, as JSON. */
const SCRIPT = `
import json, sys
import pyodbc

port, user, password, db = sys.argv[1:5]
out = {}

def connect(password, autocommit=True):
    return pyodbc.connect(
        "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%s;Database=%s;Uid=%s;Pwd=%s;SSLmode=disable"
        % (port, db, user, password), autocommit=autocommit, timeout=10)

conn = connect(password)
out["dbms_ver"] = conn.getinfo(pyodbc.SQL_DBMS_VER)
cur = conn.cursor()
cur.execute("select * from lists.samples order by id")
out["columns"] = [d[0] for d in cur.description]
out["rows"] = [[None if v is None else str(v) for v in row] for row in cur.fetchall()]
# Parameters: SQLPrepare → named Parse/Describe/Bind/Execute, then DEALLOCATE.
out["param"] = [cur.execute("select label from lists.samples where id = ?", i).fetchone()[0] for i in (1, 2, 3, 1)]
cur.execute("select count(*) from lists.samples where ok = ? and day < ?", True, "2024-06-01")
out["count"] = cur.fetchone()[0]

manual = connect(password, autocommit=False)
mc = manual.cursor()
mc.execute("select id from lists.samples where id > ? order by id", 1)
out["manual"] = [r[0] for r in mc.fetchall()]
manual.rollback()
try:
    mc.execute("update lists.samples set label = ? where id = ?", "x", 1)
except pyodbc.Error as e:
    out["update"] = e.args[0]
manual.rollback()
manual.close()

try:
    connect("wrong")
except pyodbc.Error as e:
    out["bad_password"] = str(e)
print(json.dumps(out))
`;

/**
 * Runs a pyodbc script as Alice against a door on the test's backend, or
 * says which Debian package is missing and answers null.
 */
async function runAsAlice(t: TestContext, source: string): Promise<Run | null> {
  const missing = !await installed(PYTHON, ["-c", "import pyodbc"])
    ? "python3-pyodbc"
    : !await installed("odbcinst", ["-q", "-d", "-n", "PostgreSQL Unicode"])
    ? "odbc-postgresql (psqlODBC)"
    : null;
  if (missing) {
    skipped(missing);
    return null;
  }
  await using fx = await openDoor(t);
  return await runPython(source, [String(fx.port), ALICE.email, ALICE.password, FOLDER]);
}

backendTest(
  "pyodbc via psqlODBC reads every column type and runs prepared statements",
  async (t) => {
    const result = await runAsAlice(t, SCRIPT);
    if (!result) return;
    assert.equal(result.stderr, "");
    const out = JSON.parse(result.stdout);
    assert.match(out.dbms_ver, /^\d+\.\d+/);
    assert.deepEqual(out.columns, SAMPLE_COLUMNS.map((c) => c.name));
    // psqlODBC returns booleans as 1/0 by default (BoolsAsChar).
    assert.deepEqual(out.rows[0].slice(0, 7), [
      "1",
      "alpha",
      "9007199254740993",
      "12.345",
      "0.5",
      "1",
      "2024-01-15",
    ]);
    assert.equal(out.rows[0][9].toLowerCase(), "0b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6b");
    assert.deepEqual(out.param, ["alpha", 'beta, "quoted"', "gamma", "alpha"]);
    assert.equal(out.count, 1);
    assert.deepEqual(out.manual, [2, 3]);
    assert.equal(out.update, "25006");
    assert.match(out.bad_password, /Password authentication failed/);
  },
);

/** psqlODBC's catalog functions (SQLTables, SQLColumns, …) through pyodbc, as JSON. */
const CATALOG_SCRIPT = `
import json, sys
import pyodbc

port, user, password, db = sys.argv[1:5]
conn = pyodbc.connect(
    "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%s;Database=%s;Uid=%s;Pwd=%s;SSLmode=disable"
    % (port, db, user, password), autocommit=True, timeout=10)
cur = conn.cursor()
rows = lambda result: [[None if v is None else str(v) for v in r] for r in result]
out = {
    "dbms": [conn.getinfo(pyodbc.SQL_DBMS_NAME), conn.getinfo(pyodbc.SQL_DBMS_VER)],
    "database": conn.getinfo(pyodbc.SQL_DATABASE_NAME),
    "user": conn.getinfo(pyodbc.SQL_USER_NAME),
    "tables": rows(cur.tables()),
    "schemas": rows(cur.tables(catalog="", schema="%", table="", tableType="")),
    "columns": [[r.column_name, r.type_name, r.data_type, r.column_size, r.nullable]
                for r in cur.columns(table="samples", schema="lists")],
    "other_folder": rows(cur.columns(table="hidden")),
    "primary_keys": rows(cur.primaryKeys("samples", schema="lists")),
    "statistics": rows(cur.statistics("samples", schema="lists")),
    "foreign_keys": rows(cur.foreignKeys("samples", schema="lists")),
    "types": len(cur.getTypeInfo().fetchall()),
}
cur.execute("select id, label, big, amount, ratio, ok, day, taken, stamped, uid from lists.samples where id = 1")
out["description"] = [[d[0], d[1].__name__] for d in cur.description]
out["row"] = [str(v) for v in cur.fetchone()]
print(json.dumps(out))
`;

backendTest(
  "pyodbc catalog functions list the folder's lists, columns and keys only",
  async (t) => {
    const result = await runAsAlice(t, CATALOG_SCRIPT);
    if (!result) return;
    assert.equal(result.stderr, "");
    // The other folder's list is named "hidden".
    assert.doesNotMatch(result.stdout, /lg_|"hidden"|secret/);
    const out = JSON.parse(result.stdout);
    assert.equal(out.dbms[0], "PostgreSQL");
    assert.match(out.dbms[1], /^\d+\.\d+\.\d+$/);
    assert.equal(out.database, FOLDER);
    assert.equal(out.user, ALICE.email);
    assert.deepEqual(out.tables, [
      [FOLDER, "core", "containers", "VIEW", ""],
      [FOLDER, "core", "users", "VIEW", ""],
      [FOLDER, "lists", "samples", "TABLE", ""],
    ]);
    assert.deepEqual(out.schemas.map((r: string[]) => r[1]), ["core", "lists"]);
    // [name, type, ODBC SQL type, size, nullable]
    assert.deepEqual(out.columns, [
      ["id", "int4", 4, 10, 0],
      ["label", "text", -10, 8190, 1],
      ["big", "int8", -5, 19, 1],
      ["amount", "numeric", 2, 28, 1],
      ["ratio", "float8", 6, 17, 1],
      ["ok", "bool", 12, 5, 1],
      ["day", "date", 91, 10, 1],
      ["taken", "timestamp", 93, 26, 1],
      ["stamped", "timestamptz", 93, 26, 1],
      ["uid", "uuid", -11, 37, 1],
      ["meta", "jsonb", -9, 255, 1],
    ]);
    assert.deepEqual(out.other_folder, []);
    assert.deepEqual(out.primary_keys, [[FOLDER, "lists", "samples", "id", "1", "samples_pkey"]]);
    assert.deepEqual(
      out.statistics.map((r: string[]) => [r[1], r[2], r[3], r[5], r[8]]),
      [["lists", "samples", "0", "samples_pkey", "id"]],
    );
    assert.deepEqual(out.foreign_keys, []);
    assert.ok(out.types > 10);
    assert.deepEqual(out.description, [
      ["id", "int"],
      ["label", "str"],
      ["big", "int"],
      ["amount", "Decimal"],
      ["ratio", "float"],
      ["ok", "str"],
      ["day", "date"],
      ["taken", "datetime"],
      ["stamped", "datetime"],
      ["uid", "str"],
    ]);
    assert.deepEqual(out.row, [
      "1",
      "alpha",
      "9007199254740993",
      "12.345",
      "0.5",
      "1",
      "2024-01-15",
      "2024-01-15 10:30:00",
      "2024-01-15 10:30:00",
      "0B6F1C3E-8F4A-4D8E-9A57-1C2D3E4F5A6B",
    ]);
  },
);
