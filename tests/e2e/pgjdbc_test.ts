import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { createList } from "../../src/data/lists.ts";
import { ALICE, FOLDER, openDoor } from "../wire/_door.ts";
import { installed, run, skipped } from "./_clients.ts";

const JAR = "/usr/share/java/postgresql.jar";

/** pgJDBC (extended protocol only) through the door; prints key=value lines. */
const PROGRAM = `
import java.sql.*;
import java.util.*;

public class DoorCheck {
  static void out(String key, Object value) { System.out.println(key + "=" + value); }

  public static void main(String[] args) throws Exception {
    String url = args[0];
    Properties props = new Properties();
    props.setProperty("user", args[1]);
    props.setProperty("password", args[2]);
    props.setProperty("sslmode", "disable");
    boolean postgres = args[3].equals("postgres");
    try (Connection c = DriverManager.getConnection(url, props)) {
      out("version", c.getMetaData().getDatabaseProductVersion());
      try (Statement s = c.createStatement();
           ResultSet rs = s.executeQuery("select * from lists.samples order by id")) {
        while (rs.next()) {
          StringBuilder row = new StringBuilder();
          for (int i = 1; i <= 11; i++) row.append(rs.getString(i)).append('|');
          out("row", row);
        }
      }
      // Eight runs: pgJDBC prepares on the server (S_n) from the fifth and asks for binary results.
      try (PreparedStatement ps = c.prepareStatement(
          "select id, big, amount, ratio, day, taken, stamped, uid, label, ok from lists.samples where id = ?")) {
        for (int i = 0; i < 8; i++) {
          ps.setInt(1, i % 2 + 1);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            out("prepared", rs.getInt(1) + "|" + rs.getLong(2) + "|" + rs.getBigDecimal(3) + "|"
                + rs.getDouble(4) + "|" + rs.getDate(5) + "|" + rs.getTimestamp(6).toLocalDateTime() + "|"
                + rs.getObject(8) + "|" + rs.getString(9) + "|" + rs.getBoolean(10));
          }
        }
      }
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("select id from lists.samples order by id")) {
        ps.setFetchSize(1);
        List<Integer> ids = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) { while (rs.next()) ids.add(rs.getInt(1)); }
        out("fetched", ids);
      }
      c.commit();
      c.setAutoCommit(true);
      try (Statement s = c.createStatement()) {
        s.executeUpdate("insert into lists.samples (id) values (77)");
      } catch (SQLException e) {
        out("insert", e.getSQLState());
      }
      c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
      out("isolation", c.getTransactionIsolation());
      if (postgres) {
        Statement s = c.createStatement();
        new Thread(() -> {
          try { Thread.sleep(700); s.cancel(); } catch (Exception e) { throw new RuntimeException(e); }
        }).start();
        long started = System.currentTimeMillis();
        try { s.execute("select pg_sleep(30)"); } catch (SQLException e) { out("cancel", e.getSQLState()); }
        out("cancel_ms", System.currentTimeMillis() - started);
        try (ResultSet rs = c.createStatement().executeQuery("select 5")) { rs.next(); out("after_cancel", rs.getInt(1)); }
      }
    }
    props.setProperty("password", "wrong");
    try {
      DriverManager.getConnection(url, props);
    } catch (SQLException e) {
      out("bad_password", e.getSQLState() + " " + e.getMessage());
    }
  }
}
`;

/**
 * DatabaseMetaData and ResultSetMetaData through the door; prints
 * `key=value` lines, one per row, with the columns that matter.
 */
const META_PROGRAM = `
import java.sql.*;
import java.util.*;

public class DoorMeta {
  static void rows(String key, ResultSet rs, String... columns) throws SQLException {
    try (rs) {
      int n = 0;
      while (rs.next()) {
        n++;
        if (columns.length == 0) continue;
        List<String> values = new ArrayList<>();
        for (String c : columns) values.add(rs.getString(c));
        System.out.println(key + "=" + String.join("|", values));
      }
      System.out.println(key + ".count=" + n);
    }
  }

  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.setProperty("user", args[1]);
    props.setProperty("password", args[2]);
    props.setProperty("sslmode", "disable");
    try (Connection c = DriverManager.getConnection(args[0], props)) {
      DatabaseMetaData m = c.getMetaData();
      System.out.println("product=" + m.getDatabaseProductName() + "|" + m.getUserName());
      rows("schema", m.getSchemas(), "TABLE_SCHEM");
      rows("catalog", m.getCatalogs(), "TABLE_CAT");
      rows("table", m.getTables(null, "lists", "%", null), "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE");
      rows("any_table", m.getTables(null, null, "%", new String[] {"TABLE", "VIEW"}),
          "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE");
      rows("other_folder", m.getTables(null, null, "hidden", null), "TABLE_NAME");
      rows("column", m.getColumns(null, "lists", "samples", "%"), "COLUMN_NAME", "DATA_TYPE",
          "TYPE_NAME", "COLUMN_SIZE", "NULLABLE", "ORDINAL_POSITION");
      rows("plates_column", m.getColumns(null, "lists", "plates", "%"), "COLUMN_NAME");
      rows("pk", m.getPrimaryKeys(null, "lists", "samples"), "COLUMN_NAME", "KEY_SEQ", "PK_NAME");
      rows("index", m.getIndexInfo(null, "lists", "samples", false, false), "INDEX_NAME",
          "COLUMN_NAME", "NON_UNIQUE");
      rows("type", m.getTypeInfo());
      rows("function", m.getFunctions(null, "lists", "%"));
      rows("pg_function", m.getFunctions(null, "pg_catalog", "now"), "FUNCTION_SCHEM",
          "FUNCTION_NAME");
      rows("procedure", m.getProcedures(null, "lists", "%"));
      rows("imported", m.getImportedKeys(null, "lists", "samples"));
      rows("privilege", m.getTablePrivileges(null, "lists", "samples"), "GRANTEE", "PRIVILEGE");
      rows("best_row", m.getBestRowIdentifier(null, "lists", "samples",
          DatabaseMetaData.bestRowSession, true), "COLUMN_NAME");
      try (Statement s = c.createStatement();
           ResultSet rs = s.executeQuery("select * from lists.samples where id = 1")) {
        ResultSetMetaData r = rs.getMetaData();
        for (int i = 1; i <= r.getColumnCount(); i++) {
          System.out.println("rsmd=" + r.getColumnName(i) + "|" + r.getColumnTypeName(i) + "|"
              + r.getColumnType(i) + "|" + r.getTableName(i) + "|" + r.isNullable(i));
        }
      }
    }
  }
}
`;

let compiled: Promise<string | null> | undefined;

/** Compiles the Java programs once per test run; null when no JDK or driver jar. */
function compile(): Promise<string | null> {
  compiled ??= (async () => {
    if (!await installed("javac", ["-version"])) return null;
    try {
      await Deno.stat(JAR);
    } catch {
      return null;
    }
    const dir = await Deno.makeTempDir({ prefix: "labgate-jdbc-" });
    await Deno.writeTextFile(`${dir}/DoorCheck.java`, PROGRAM);
    await Deno.writeTextFile(`${dir}/DoorMeta.java`, META_PROGRAM);
    const result = await run("javac", [
      "-cp",
      JAR,
      "-d",
      dir,
      `${dir}/DoorCheck.java`,
      `${dir}/DoorMeta.java`,
    ]);
    if (result.code !== 0) throw new Error(`javac failed: ${result.stderr}`);
    return dir;
  })();
  return compiled;
}

/** Runs one of the programs against the door; its output as [key, value] pairs. */
async function runProgram(
  dir: string,
  program: string,
  port: number,
  ...extra: string[]
): Promise<[string, string][]> {
  const url = `jdbc:postgresql://127.0.0.1:${port}/${encodeURIComponent(FOLDER)}`;
  const result = await run("java", [
    "-cp",
    `${dir}:${JAR}`,
    program,
    url,
    ALICE.email,
    ALICE.password,
    ...extra,
  ]);
  assert.equal(result.stderr, "");
  return result.stdout.trim().split("\n").map((line) => {
    const [key, value] = line.split(/=(.*)/s);
    return [key, value];
  });
}

backendTest(
  "pgJDBC: every column type, server-prepared binary results, fetch size, cancel",
  async (t) => {
    const dir = await compile();
    if (!dir) return skipped("a JDK (javac) and libpostgresql-jdbc-java");
    await using fx = await openDoor(t);
    const lines = await runProgram(dir, "DoorCheck", fx.port, t.backend);
    const all = (key: string) => lines.filter(([k]) => k === key).map(([, v]) => v);
    const one = (key: string) => all(key)[0];
    assert.match(one("version"), /^\d+\.\d+/);
    assert.deepEqual(all("row"), [
      '1|alpha|9007199254740993|12.345|0.5|t|2024-01-15|2024-01-15 10:30:00|2024-01-15 10:30:00+00|0b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6b|{"plate": 1, "wells": [1, 2]}|',
      '2|beta, "quoted"|-5|0.001|-1.25|f|2023-12-31|2023-12-31 23:59:59|2023-12-31 21:59:59+00|1b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6c|{"plate": 2}|',
      "3|gamma|null|null|null|null|null|null|null|null|null|",
    ]);
    const prepared = all("prepared");
    assert.equal(prepared.length, 8);
    assert.deepEqual(
      new Set(prepared),
      new Set([
        "1|9007199254740993|12.345|0.5|2024-01-15|2024-01-15T10:30|0b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6b|alpha|true",
        '2|-5|0.001|-1.25|2023-12-31|2023-12-31T23:59:59|1b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6c|beta, "quoted"|false',
      ]),
    );
    assert.equal(one("fetched"), "[1, 2, 3]");
    assert.equal(one("insert"), "25006");
    assert.equal(one("isolation"), "4");
    if (t.backend === "postgres") {
      assert.equal(one("cancel"), "57014");
      assert.ok(Number(one("cancel_ms")) < 20_000); // well before the 30 s sleep ends
      assert.equal(one("after_cancel"), "5");
    }
    assert.match(one("bad_password"), /^28P01 FATAL: Password authentication failed/);
  },
);

backendTest("pgJDBC getColumns names list columns as the list defines them", async (t) => {
  const dir = await compile();
  if (!dir) return skipped("a JDK (javac) and libpostgresql-jdbc-java");
  await using fx = await openDoor(t);
  await createList(t.svc, t.admin, FOLDER, {
    name: "Plates",
    key: "SampleId",
    columns: [{ name: "SampleId", type: "Text" }, { name: "DoseMg", type: "Double" }],
  });
  const lines = await runProgram(dir, "DoorMeta", fx.port);
  assert.deepEqual(lines.filter(([k]) => k === "plates_column").map(([, v]) => v), [
    "SampleId",
    "DoseMg",
  ]);
});

backendTest(
  "pgJDBC DatabaseMetaData lists the folder's lists, columns, keys and types only",
  async (t) => {
    const dir = await compile();
    if (!dir) return skipped("a JDK (javac) and libpostgresql-jdbc-java");
    await using fx = await openDoor(t);
    const lines = await runProgram(dir, "DoorMeta", fx.port);
    for (const [key, value] of lines) {
      assert.doesNotMatch(`${key}=${value}`, /lg_|hidden\b|secret/);
    }
    const all = (key: string) => lines.filter(([k]) => k === key).map(([, v]) => v);
    const count = (key: string) => Number(all(`${key}.count`)[0]);
    assert.deepEqual(all("product"), [`PostgreSQL|${ALICE.email}`]);
    assert.deepEqual(all("schema"), ["core", "information_schema", "lists", "pg_catalog"]);
    assert.deepEqual(all("catalog"), [FOLDER]);
    assert.deepEqual(all("table"), ["lists|samples_pkey|INDEX", "lists|samples|TABLE"]);
    assert.deepEqual(all("any_table"), [
      "lists|samples|TABLE",
      "core|containers|VIEW",
      "core|users|VIEW",
    ]);
    assert.equal(count("other_folder"), 0);
    // name|java.sql.Types|type|size|nullable|position
    assert.deepEqual(all("column"), [
      "id|4|int4|10|0|1",
      "label|12|text|2147483647|1|2",
      "big|-5|int8|19|1|3",
      "amount|2|numeric|0|1|4",
      "ratio|8|float8|17|1|5",
      "ok|-7|bool|1|1|6",
      "day|91|date|13|1|7",
      "taken|93|timestamp|29|1|8",
      "stamped|93|timestamptz|35|1|9",
      "uid|1111|uuid|2147483647|1|10",
      "meta|1111|jsonb|2147483647|1|11",
    ]);
    assert.deepEqual(all("pk"), ["id|1|samples_pkey"]);
    assert.deepEqual(all("index"), ["samples_pkey|id|f"]);
    assert.ok(count("type") > 100);
    assert.equal(count("function"), 0);
    assert.deepEqual(all("pg_function"), ["pg_catalog|now"]);
    assert.equal(count("procedure"), 0);
    assert.equal(count("imported"), 0);
    assert.deepEqual(all("best_row"), ["id"]);
    assert.deepEqual(all("privilege"), [`${ALICE.email}|SELECT`]);
    assert.deepEqual(all("rsmd"), [
      "id|int4|4|samples|0",
      "label|text|12|samples|1",
      "big|int8|-5|samples|1",
      "amount|numeric|2|samples|1",
      "ratio|float8|8|samples|1",
      "ok|bool|-7|samples|1",
      "day|date|91|samples|1",
      "taken|timestamp|93|samples|1",
      "stamped|timestamptz|93|samples|1",
      "uid|uuid|1111|samples|1",
      "meta|jsonb|1111|samples|1",
    ]);
  },
);
