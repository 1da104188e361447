/**
 * PHI levels with real clients: one list with a column at each level, one
 * user with three API keys at not_phi, limited and full. psql (`\d`,
 * `select *`), pgJDBC (DatabaseMetaData.getColumns), pyodbc (SQLColumns),
 * psycopg2 and curl on the JSON and LabKey APIs each see exactly the
 * key's columns; a statement naming a column above the key's level is
 * refused with no value and no row count.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { createApp } from "../../routes/mod.ts";
import type { Actor } from "../../src/core/actor.ts";
import { createList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { backendTest, type TestContext } from "../_support/backends.ts";
import { keysAtEachLevel } from "../_support/keys.ts";
import { ALICE, FOLDER, openDoor } from "../wire/_door.ts";
import { installed, PYTHON, run, runPython, skipped } from "./_clients.ts";

const LEVELS = ["not_phi", "limited", "full"] as const;
type Level = typeof LEVELS[number];

/** The columns each level sees, as the list defines them; Link is restricted: nobody's. */
const SEEN: Record<Level, string[]> = {
  not_phi: ["Id", "Site"],
  limited: ["Id", "Site", "Birth"],
  full: ["Id", "Site", "Birth", "Mrn"],
};
const VALUES: Record<string, string> = {
  Id: "1",
  Site: "north",
  Birth: "1970-01-02",
  Mrn: "MRN-77",
  Link: "internal-7",
};
/** A statement naming the full column: refused below full. */
const NAMES_MRN = "select Mrn from lists.patients";

/**
 * What a client printed holds the visible Site and no withheld column's
 * value, in any format (a date as its year).
 */
function onlySeen(level: Level, output: string, what: string): void {
  assert.ok(output.includes(VALUES.Site), `${what}: Site`);
  const secrets: Record<string, string> = { Birth: "1970", Mrn: "MRN-77", Link: "internal-7" };
  for (const [column, secret] of Object.entries(secrets)) {
    if (!SEEN[level].includes(column)) assert.ok(!output.includes(secret), `${what}: ${column}`);
  }
}

/** The list, a row filled at full (Link by the operator), and Alice's keys at each level. */
async function phiWorld(t: TestContext) {
  const list = await createList(t.svc, t.admin, FOLDER, {
    name: "patients",
    key: "Id",
    columns: [
      { name: "Id", type: "Integer" },
      { name: "Site", type: "Text" },
      { name: "Birth", type: "Date", phi: "limited" },
      { name: "Mrn", type: "Text", phi: "full" },
      { name: "Link", type: "Text", phi: "restricted" },
    ],
  });
  const fullPhi: Actor = { ...t.admin, phiLevel: "full" };
  await insertRows(t.svc, fullPhi, list, [{
    Id: 1,
    Site: "north",
    Birth: "1970-01-02",
    Mrn: "MRN-77",
  }]);
  await sql`update ${sql.table(list.qualifiedTable)} set link = 'internal-7'`
    .execute(t.svc.database.root);
  return { list, keys: await keysAtEachLevel(t, ALICE.email) };
}

/** The SQL door, taking keys as passwords from loopback without TLS. */
function door(t: TestContext) {
  return openDoor(t, { settings: { allowLoopbackCleartext: true } });
}

function psql(port: number, key: string, ...args: string[]) {
  const info = `host=127.0.0.1 port=${port} dbname=${FOLDER} user=apikey sslmode=disable`;
  return run("psql", ["-X", "-A", "-t", "-F", "|", info, ...args], {
    env: { PGPASSWORD: key, PGCONNECT_TIMEOUT: "10" },
  });
}

backendTest(
  "psql: \\d and select * show each key's columns; naming one above it leaks nothing",
  async (t) => {
    if (!await installed("psql")) return skipped("psql");
    await using fx = await door(t);
    const { keys } = await phiWorld(t);
    for (const level of LEVELS) {
      const described = await psql(fx.port, keys[level], "-c", "\\d lists.patients");
      assert.equal(described.code, 0, described.stderr);
      const columns = described.stdout.trim().split("\n").map((line) => line.split("|")[0]);
      assert.deepEqual(columns, SEEN[level], level);
      const all = await psql(fx.port, keys[level], "-c", "select * from lists.patients");
      assert.equal(all.code, 0, all.stderr);
      assert.equal(all.stdout.trim(), SEEN[level].map((c) => VALUES[c]).join("|"), level);
      const copied = await psql(fx.port, keys[level], "-c", "copy lists.patients to stdout");
      onlySeen(level, copied.stdout, `${level} COPY`);
      const named = await psql(fx.port, keys[level], "-c", NAMES_MRN);
      if (level === "full") {
        assert.equal(named.stdout.trim(), "MRN-77");
        continue;
      }
      assert.equal(named.code, 1);
      assert.equal(named.stdout, "", "no rows, no row count");
      assert.match(named.stderr, /ERROR: {2}Column "Mrn" needs PHI level full/);
      assert.doesNotMatch(named.stderr, /MRN-77|north|1970|internal-7/);
    }
  },
);

const JAR = "/usr/share/java/postgresql.jar";

/** pgJDBC: DatabaseMetaData.getColumns, select * and the named column; key=value lines. */
const JAVA = `
import java.sql.*;
import java.util.*;

public class PhiCheck {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.setProperty("user", "apikey");
    props.setProperty("password", args[1]);
    props.setProperty("sslmode", "disable");
    try (Connection c = DriverManager.getConnection(args[0], props)) {
      try (ResultSet rs = c.getMetaData().getColumns(null, "lists", "patients", "%")) {
        while (rs.next()) System.out.println("column=" + rs.getString("COLUMN_NAME"));
      }
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select * from lists.patients")) {
        ResultSetMetaData m = rs.getMetaData();
        for (int i = 1; i <= m.getColumnCount(); i++) System.out.println("label=" + m.getColumnName(i));
        while (rs.next()) {
          for (int i = 1; i <= m.getColumnCount(); i++) System.out.println("value=" + rs.getString(i));
        }
      }
      try (PreparedStatement ps = c.prepareStatement(args[2]); ResultSet rs = ps.executeQuery()) {
        while (rs.next()) System.out.println("named=" + rs.getString(1));
      } catch (SQLException e) {
        System.out.println("refused=" + e.getSQLState() + "|" + e.getMessage().replace("\\n", " "));
      }
    }
  }
}
`;

backendTest("pgJDBC: getColumns and select * show each key's columns", async (t) => {
  if (!await installed("javac", ["-version"])) return skipped("a JDK (javac)");
  if (!await Deno.stat(JAR).then(() => true, () => false)) {
    return skipped("libpostgresql-jdbc-java");
  }
  await using fx = await door(t);
  const { keys } = await phiWorld(t);
  const dir = await Deno.makeTempDir({ prefix: "labgate-phi-jdbc-" });
  try {
    await Deno.writeTextFile(`${dir}/PhiCheck.java`, JAVA);
    const compiled = await run("javac", ["-cp", JAR, "-d", dir, `${dir}/PhiCheck.java`]);
    assert.equal(compiled.code, 0, compiled.stderr);
    const url = `jdbc:postgresql://127.0.0.1:${fx.port}/${encodeURIComponent(FOLDER)}`;
    for (const level of LEVELS) {
      const result = await run("java", [
        "-cp",
        `${dir}:${JAR}`,
        "PhiCheck",
        url,
        keys[level],
        NAMES_MRN,
      ]);
      assert.equal(result.stderr, "");
      const lines = result.stdout.trim().split("\n").map((l) => l.split(/=(.*)/s));
      const all = (key: string) => lines.filter(([k]) => k === key).map(([, v]) => v);
      assert.deepEqual(all("column"), SEEN[level], `${level} getColumns`);
      assert.deepEqual(all("label"), SEEN[level], `${level} select *`);
      assert.deepEqual(all("value"), SEEN[level].map((c) => VALUES[c]));
      if (level === "full") {
        assert.deepEqual(all("named"), ["MRN-77"]);
      } else {
        assert.deepEqual(all("named"), []);
        assert.match(all("refused")[0], /^42501\|ERROR: Column "Mrn" needs PHI level full/);
        onlySeen(level, result.stdout, level);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** pyodbc (SQLColumns) and psycopg2 in one script, as JSON. */
const PYTHON_SCRIPT = `
import json, sys
import psycopg2, pyodbc

port, key, db, named = sys.argv[1:5]
out = {}
odbc = pyodbc.connect(
    "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%s;Database=%s;Uid=apikey;Pwd=%s;SSLmode=disable"
    % (port, db, key), autocommit=True, timeout=10)
cur = odbc.cursor()
out["odbc_columns"] = [r.column_name for r in cur.columns(table="patients", schema="lists")]
cur.execute("select * from lists.patients")
out["odbc_select"] = [d[0] for d in cur.description]
out["odbc_rows"] = [[str(v) for v in row] for row in cur.fetchall()]
try:
    out["odbc_named"] = [str(r[0]) for r in cur.execute(named).fetchall()]
except pyodbc.Error as e:
    out["odbc_refused"] = str(e)

conn = psycopg2.connect(host="127.0.0.1", port=port, user="apikey", password=key, dbname=db,
                        sslmode="disable", connect_timeout=10)
conn.autocommit = True
pc = conn.cursor()
pc.execute("select * from lists.patients")
out["pg_select"] = [d.name for d in pc.description]
out["pg_rows"] = [[str(v) for v in row] for row in pc.fetchall()]
try:
    pc.execute(named)
    out["pg_named"] = [str(r[0]) for r in pc.fetchall()]
except psycopg2.Error as e:
    out["pg_refused"] = {"code": e.pgcode, "message": e.pgerror, "rowcount": pc.rowcount}
print(json.dumps(out))
`;

backendTest("pyodbc (SQLColumns) and psycopg2 show each key's columns", async (t) => {
  const missing = !await installed(PYTHON, ["-c", "import pyodbc, psycopg2"])
    ? "python3-pyodbc and python3-psycopg2"
    : !await installed("odbcinst", ["-q", "-d", "-n", "PostgreSQL Unicode"])
    ? "odbc-postgresql (psqlODBC)"
    : null;
  if (missing) return skipped(missing);
  await using fx = await door(t);
  const { keys } = await phiWorld(t);
  for (const level of LEVELS) {
    const result = await runPython(PYTHON_SCRIPT, [
      String(fx.port),
      keys[level],
      FOLDER,
      NAMES_MRN,
    ]);
    assert.equal(result.stderr, "");
    const out = JSON.parse(result.stdout);
    assert.deepEqual(out.odbc_columns, SEEN[level], `${level} SQLColumns`);
    const values = [SEEN[level].map((c) => VALUES[c])];
    assert.deepEqual(out.odbc_select, SEEN[level]);
    assert.deepEqual(out.odbc_rows, values);
    assert.deepEqual(out.pg_select, SEEN[level]);
    assert.deepEqual(out.pg_rows, values);
    if (level === "full") {
      assert.deepEqual([out.odbc_named, out.pg_named], [["MRN-77"], ["MRN-77"]]);
      continue;
    }
    assert.match(out.odbc_refused, /42501.*Column "Mrn" needs PHI level full/);
    assert.equal(out.pg_refused.code, "42501");
    assert.match(out.pg_refused.message, /Column "Mrn" needs PHI level full/);
    assert.equal(out.pg_refused.rowcount, -1, "no row count");
    onlySeen(level, result.stdout, level);
  }
});

async function curl(url: string, key: string, ...args: string[]) {
  const result = await run("curl", [
    "--silent",
    "--user",
    `apikey:${key}`,
    "--write-out",
    "\n%{http_code}",
    ...args,
    url,
  ]);
  const cut = result.stdout.lastIndexOf("\n");
  return { status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, cut) };
}

backendTest(
  "curl: JSON API rows, LabKey selectRows and executeSql show each key's columns",
  async (t) => {
    if (!await installed("curl")) return skipped("curl");
    // The door's world (Alice, the folder); curl talks HTTP only.
    await using _fx = await door(t);
    const { list, keys } = await phiWorld(t);
    const app = createApp(t.svc);
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request, info) => app.fetch(request, { clientAddr: info.remoteAddr.hostname }),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const executeSql = (key: string, text: string) =>
      curl(
        `${base}${FOLDER}/query-executeSql.api`,
        key,
        "--header",
        "content-type: application/json",
        "--data",
        JSON.stringify({ schemaName: "lists", sql: text }),
      );
    for (const level of LEVELS) {
      const rows = await curl(`${base}/api/lists/${list.list.id}/rows`, keys[level]);
      assert.equal(rows.status, 200, rows.body);
      assert.deepEqual(Object.keys(JSON.parse(rows.body).rows[0]), SEEN[level], `${level} JSON`);
      const selected = await curl(
        `${base}${FOLDER}/query-selectRows.api?schemaName=lists&query.queryName=patients`,
        keys[level],
      );
      assert.equal(selected.status, 200, selected.body);
      assert.deepEqual(
        Object.keys(JSON.parse(selected.body).rows[0]),
        SEEN[level],
        `${level} LabKey`,
      );
      const all = await executeSql(keys[level], "select * from patients");
      assert.equal(all.status, 200, all.body);
      // executeSql names result columns by stored name across the folder's lists, so the
      // samples list's `id` names this one's `Id` (not a PHI matter).
      assert.deepEqual(
        Object.keys(JSON.parse(all.body).rows[0]).map((c) => c.toLowerCase()),
        SEEN[level].map((c) => c.toLowerCase()),
        `${level} executeSql`,
      );
      for (const body of [rows.body, selected.body, all.body]) onlySeen(level, body, level);
      const named = await executeSql(keys[level], NAMES_MRN);
      if (level === "full") {
        assert.equal(named.status, 200);
        continue;
      }
      assert.equal(named.status, 403);
      assert.match(JSON.parse(named.body).exception, /^Column "Mrn" needs PHI level full/);
      assert.doesNotMatch(named.body, /MRN-77|north|1970|internal-7|rowCount/);
    }
  },
);
