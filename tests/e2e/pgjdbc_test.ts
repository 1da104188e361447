import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
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

let compiled: Promise<string | null> | undefined;

/** Compiles the check program once per test run; null when no JDK or driver jar. */
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
    const result = await run("javac", ["-cp", JAR, "-d", dir, `${dir}/DoorCheck.java`]);
    if (result.code !== 0) throw new Error(`javac failed: ${result.stderr}`);
    return dir;
  })();
  return compiled;
}

backendTest(
  "pgJDBC: every column type, server-prepared binary results, fetch size, cancel",
  async (t) => {
    const dir = await compile();
    if (!dir) return skipped("a JDK (javac) and libpostgresql-jdbc-java");
    await using fx = await openDoor(t);
    const url = `jdbc:postgresql://127.0.0.1:${fx.port}/${encodeURIComponent(FOLDER)}`;
    const result = await run("java", [
      "-cp",
      `${dir}:${JAR}`,
      "DoorCheck",
      url,
      ALICE.email,
      ALICE.password,
      t.backend,
    ]);
    assert.equal(result.stderr, "");
    const lines = result.stdout.trim().split("\n").map((line) => line.split(/=(.*)/s).slice(0, 2));
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
      assert.ok(Number(one("cancel_ms")) < 5000);
      assert.equal(one("after_cancel"), "5");
    }
    assert.match(one("bad_password"), /^28P01 FATAL: Password authentication failed/);
  },
);
