import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { ALICE, FOLDER, openDoor } from "../wire/_door.ts";
import { installed, PYTHON, run, skipped } from "./_clients.ts";

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

backendTest(
  "pyodbc via psqlODBC reads every column type and runs prepared statements",
  async (t) => {
    if (!await installed(PYTHON, ["-c", "import pyodbc"])) return skipped("python3-pyodbc");
    if (!await installed("odbcinst", ["-q", "-d", "-n", "PostgreSQL Unicode"])) {
      return skipped("odbc-postgresql (psqlODBC)");
    }
    await using fx = await openDoor(t);
    const script = await Deno.makeTempFile({ suffix: ".py" });
    await Deno.writeTextFile(script, SCRIPT);
    const result = await run(PYTHON, [
      script,
      String(fx.port),
      ALICE.email,
      ALICE.password,
      FOLDER,
    ]);
    assert.equal(result.stderr, "");
    const out = JSON.parse(result.stdout);
    assert.match(out.dbms_ver, /^\d+\.\d+/);
    assert.deepEqual(out.columns, [
      "id",
      "label",
      "big",
      "amount",
      "ratio",
      "ok",
      "day",
      "taken",
      "stamped",
      "uid",
      "meta",
    ]);
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
