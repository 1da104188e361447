import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { Writer } from "../../wire/protocol/bytes.ts";
import { FrontendCode } from "../../wire/protocol/message_codes.ts";
import {
  bindText,
  cancelRequest,
  execute,
  parse,
  query,
  SYNC,
  target,
} from "../../wire/protocol/messages.ts";
import {
  commandTags,
  errorOf,
  parameterStatus,
  RawClient,
  rowsOf,
  statusOf,
  text,
  types,
} from "./_client.ts";
import { ALICE, CROSS_JOIN, FOLDER, openDoor } from "./_door.ts";

const NO_TYPES = new Uint8Array(2);
const INT4 = new Uint8Array([0, 1, 0, 0, 0, 23]);
/** Flush: the door never reads one of its own, so only the tests build it. */
const FLUSH = new Writer().begin(FrontendCode.Flush).end().take();
const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

function describeStatement(name: string) {
  return target(FrontendCode.Describe, "S", name);
}

function closeStatement(name: string) {
  return target(FrontendCode.Close, "S", name);
}

backendTest(
  "Query() answers several statements in one string with one ReadyForQuery",
  async (t) => {
    await using fx = await openDoor(t);
    await using client = await RawClient.connect(fx.port, login);
    client.send(
      query("select id from lists.samples where id = 1; select label from samples where id = 2"),
    );
    const reply = await client.until();
    assert.equal(types(reply), "TDCTDCZ");
    assert.deepEqual(rowsOf(reply), [["1"], ['beta, "quoted"']]);
    assert.equal(statusOf(reply), "I");
    client.send(query(""));
    assert.equal(types(await client.until()), "IZ");
  },
);

backendTest("login reports the parameters drivers need", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, {
    ...login,
    params: { application_name: "wire-test", DateStyle: "ISO", client_encoding: "UTF8" },
  });
  const p = client.parameters;
  assert.match(p.get("server_version")!, /^\d+\.\d+ \(labgate\)$/);
  assert.equal(p.get("server_encoding"), "UTF8");
  assert.equal(p.get("client_encoding"), "UTF8");
  assert.match(p.get("DateStyle")!, /^ISO/);
  assert.equal(p.get("integer_datetimes"), "on");
  assert.equal(p.get("standard_conforming_strings"), "on");
  assert.equal(p.get("is_superuser"), "off");
  assert.equal(p.get("session_authorization"), ALICE.email);
  assert.equal(p.get("default_transaction_read_only"), "on");
  assert.equal(p.get("in_hot_standby"), "off");
  assert.equal(p.get("application_name"), "wire-test");
  assert.ok(p.has("TimeZone") && p.has("IntervalStyle"));
  assert.ok(client.pid > 0);
});

backendTest(
  "Parse() of a named statement binds again on later leases; Close() forgets it",
  async (t) => {
    await using fx = await openDoor(t, { settings: { backendConnections: 1 } });
    await using client = await RawClient.connect(fx.port, login);
    await using other = await RawClient.connect(fx.port, login);
    client.send(parse("by_id", "select label from lists.samples where id = $1", INT4), SYNC);
    assert.equal(types(await client.until()), "1Z");
    // Another client uses the (only) backend in between.
    other.send(query("select 1"));
    await other.until();
    for (const id of ["1", "2"]) {
      client.send(bindText("", "by_id", [id]), execute(""), SYNC);
      const reply = await client.until();
      assert.equal(types(reply), "2DCZ");
      assert.equal(rowsOf(reply)[0][0], id === "1" ? "alpha" : 'beta, "quoted"');
    }
    // The other client prepares the same SQL under the same name: its own statement.
    other.send(parse("by_id", "select label from lists.samples where id = $1", INT4), SYNC);
    assert.equal(types(await other.until()), "1Z");
    client.send(closeStatement("by_id"), bindText("", "by_id", ["1"]), execute(""), SYNC);
    const reply = await client.until();
    assert.equal(types(reply), "3EZ");
    assert.equal(errorOf(reply[1]).code, "26000");
    assert.equal(errorOf(reply[1]).message, 'Prepared statement "by_id" does not exist');
    other.send(bindText("", "by_id", ["3"]), execute(""), SYNC);
    assert.deepEqual(rowsOf(await other.until()), [["gamma"]]);
  },
);

backendTest(
  "Describe() of a statement answers ParameterDescription and RowDescription after Flush",
  async (t) => {
    await using fx = await openDoor(t);
    await using client = await RawClient.connect(fx.port, login);
    client.send(
      parse("s1", "select id, label from lists.samples where id = $1", NO_TYPES),
      describeStatement("s1"),
      FLUSH,
    );
    assert.equal(types(await client.until("T")), "1tT");
    client.send(bindText("", "s1", ["3"]), execute(""), SYNC);
    const reply = await client.until();
    assert.equal(types(reply), "2DCZ");
    assert.deepEqual(rowsOf(reply), [["3", "gamma"]]);
  },
);

backendTest("Parse() sent again byte for byte is a new statement each time", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  const byId = parse("s1", "select label from lists.samples where id = $1", INT4);
  client.send(byId, SYNC);
  assert.equal(types(await client.until()), "1Z");
  client.send(byId, SYNC);
  const duplicate = await client.until();
  assert.equal(types(duplicate), "EZ");
  assert.equal(errorOf(duplicate[0]).code, "42P05");
  client.send(bindText("", "s1", ["2"]), execute(""), closeStatement("s1"), byId, SYNC);
  const again = await client.until();
  assert.equal(types(again), "2DC31Z");
  assert.deepEqual(rowsOf(again), [['beta, "quoted"']]);
  // The unnamed statement, as drivers send it for every query, with new parameters each time.
  const unnamed = parse("", "select label from lists.samples where id = $1", INT4);
  for (const [id, label] of [["1", "alpha"], ["3", "gamma"], ["2", 'beta, "quoted"']]) {
    client.send(unnamed, bindText("", "", [id]), execute(""), SYNC);
    const reply = await client.until();
    assert.equal(types(reply), "12DCZ");
    assert.deepEqual(rowsOf(reply), [[label]]);
  }
  // A repeated Parse that fails fails each time, and the one before it stays gone.
  const bad = parse("", "select nope from lists.samples", NO_TYPES);
  for (let i = 0; i < 2; i++) {
    client.send(bad, SYNC);
    const reply = await client.until();
    assert.equal(types(reply), "EZ");
    assert.equal(errorOf(reply[0]).code, "42703");
  }
  client.send(bindText("", "", []), execute(""), SYNC);
  assert.equal(errorOf((await client.until())[0]).code, "26000");
});

backendTest("Execute() with a row limit suspends the portal and resumes it", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("begin"));
  assert.equal(statusOf(await client.until()), "T");
  client.send(
    parse("", "select id from lists.samples order by id", NO_TYPES),
    bindText("C_1", "", []),
    execute("C_1", 2),
    SYNC,
  );
  let reply = await client.until();
  assert.equal(types(reply), "12DDsZ");
  client.send(execute("C_1", 2), target(FrontendCode.Close, "P", "C_1"), SYNC);
  reply = await client.until();
  assert.equal(types(reply), "DC3Z");
  assert.deepEqual(rowsOf(reply), [["3"]]);
  client.send(query("commit"));
  assert.equal(statusOf(await client.until()), "I");
});

backendTest("an error in an extended batch skips the rest until Sync", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  client.send(
    parse("", "select nope from lists.samples", NO_TYPES),
    bindText("", "", []),
    execute(""),
    SYNC,
    parse("", "select 7", NO_TYPES),
    bindText("", "", []),
    execute(""),
    SYNC,
  );
  const first = await client.until();
  assert.equal(types(first), "EZ");
  assert.equal(errorOf(first[0]).code, "42703");
  assert.equal(errorOf(first[0]).position, "8");
  const second = await client.until();
  assert.equal(types(second), "12DCZ");
  // A Parse the door answers itself (the SQL is prepared already) is skipped like the rest.
  client.send(
    parse("a", "select 1", NO_TYPES),
    SYNC,
    bindText("", "missing", []),
    parse("b", "select 1", NO_TYPES),
    execute(""),
    SYNC,
  );
  assert.equal(types(await client.until()), "1Z");
  const skipped = await client.until();
  assert.equal(types(skipped), "EZ");
  assert.equal(errorOf(skipped[0]).code, "26000");
  client.send(bindText("", "b", []), execute(""), SYNC);
  assert.equal(types(await client.until()), "EZ", "statement b never existed");
});

backendTest("refused and failed statements abort a transaction like PostgreSQL", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("begin"), query("drop table lists.samples"));
  await client.until();
  const refused = await client.until();
  assert.equal(types(refused), "EZ");
  assert.equal(errorOf(refused[0]).code, "25006");
  assert.equal(statusOf(refused), "E");
  client.send(query("select 1"));
  assert.equal(errorOf((await client.until())[0]).code, "25P02");
  client.send(query("rollback"));
  assert.equal(statusOf(await client.until()), "I");
  client.send(query("insert into lists.samples (id) values (99)"));
  const write = await client.until();
  assert.equal(errorOf(write[0]).code, "25006");
});

backendTest(
  "error positions and names refer to the client's text, never physical names",
  async (t) => {
    await using fx = await openDoor(t);
    await using client = await RawClient.connect(fx.port, login);
    client.send(query("select * from lists.samples where nope = 1"));
    const reply = await client.until();
    assert.equal(errorOf(reply[0]).code, "42703");
    assert.equal(errorOf(reply[0]).position, "35");
    client.send(query("select * from lists.nothere"));
    const missing = await client.until();
    assert.match(errorOf(missing[0]).message, /"lists\.nothere"/);
    client.send(parse("p", "select $1::int + id from lists.samples", NO_TYPES), SYNC);
    await client.until();
    client.send(bindText("", "p", ["1", "2"]), execute(""), SYNC);
    const bind = await client.until();
    assert.match(errorOf(bind[0]).message, /"p"/);
    assert.doesNotMatch(text([...reply, ...missing, ...bind]), /lg_/);
  },
);

backendTest("SET is reported with ParameterStatus and survives later leases", async (t) => {
  await using fx = await openDoor(t, { settings: { backendConnections: 1 } });
  await using client = await RawClient.connect(fx.port, login);
  await using other = await RawClient.connect(fx.port, login);
  client.send(query("set datestyle = 'German'"));
  const set = await client.until();
  assert.equal(types(set), "CSZ");
  assert.equal(parameterStatus(set).get("DateStyle"), "German, DMY");
  other.send(query("select '2024-01-15'::date::text"));
  const iso = await other.until();
  assert.equal(rowsOf(iso)[0][0], "2024-01-15");
  assert.equal(parameterStatus(iso).size, 0);
  client.send(query("select '2024-01-15'::date::text"));
  assert.equal(rowsOf(await client.until())[0][0], "15.01.2024");
  client.send(query("reset datestyle"));
  assert.match(parameterStatus(await client.until()).get("DateStyle")!, /^ISO/);
  client.send(query("set role postgres"));
  assert.equal(errorOf((await client.until())[0]).code, "42501");
});

backendTest(
  "a SET learned from an earlier session is answered and audited as PostgreSQL's, by the settings before it",
  async (t) => {
    await using fx = await openDoor(t, { settings: { backendConnections: 1 } });
    const current = async (client: RawClient) => {
      client.send(query("select current_setting('DateStyle')"));
      return rowsOf(await client.until())[0][0];
    };
    /** The DateStyle a SET leaves, checked against what the client was told. */
    const dateStyle = async (client: RawClient, sql: string) => {
      const before = await current(client);
      client.send(query(sql));
      const reply = await client.until();
      const after = await current(client);
      assert.equal(types(reply), before === after ? "CZ" : "CSZ");
      if (before !== after) assert.equal(parameterStatus(reply).get("DateStyle"), after);
      return after;
    };
    // ISO keeps the date order in force: the same SET after other settings leaves other ones.
    for (let round = 0; round < 2; round++) {
      await using plain = await RawClient.connect(fx.port, login);
      assert.equal(await dateStyle(plain, "set datestyle = 'ISO'"), "ISO, MDY");
      await using ordered = await RawClient.connect(fx.port, login);
      assert.equal(await dateStyle(ordered, "set datestyle = 'SQL, DMY'"), "SQL, DMY");
      assert.equal(await dateStyle(ordered, "set datestyle = 'ISO'"), "ISO, DMY");
      ordered.send(query("select '2024-01-15'::date::text, current_setting('DateStyle')"));
      assert.deepEqual(rowsOf(await ordered.until()), [["2024-01-15", "ISO, DMY"]]);
      // The extended protocol, and a value PostgreSQL refuses: its error, every time.
      for (const value of ["3", "99"]) {
        plain.send(parse("", `set extra_float_digits = ${value}`, NO_TYPES));
        plain.send(bindText("", "", []));
        plain.send(execute(""));
        plain.send(SYNC);
        const reply = await plain.until();
        if (value === "3") assert.equal(types(reply), "12CZ");
        else assert.equal(errorOf(reply.find((m) => m.type === "E")!).code, "22023");
      }
      // Another client on the one backend in between: the settings come back with the next lease.
      await using other = await RawClient.connect(fx.port, login);
      other.send(query("select current_setting('extra_float_digits')"));
      assert.deepEqual(rowsOf(await other.until()), [["1"]]);
      plain.send(query("select current_setting('extra_float_digits'), '2024-01-15'::date::text"));
      assert.deepEqual(rowsOf(await plain.until()), [["3", "2024-01-15"]]);
    }
    // Each SET is a statement of the audit log, whoever answered it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await t.svc.audit.flush();
    const sets = (await t.svc.db.selectFrom("audit_log").selectAll().where("door", "=", "sql")
      .where("event", "=", "sql.query").where("detail", "like", "set %").orderBy("id").execute())
      .map((r) => [r.outcome, r.detail]);
    const round = [
      ["ok", "set datestyle = 'ISO'"],
      ["ok", "set datestyle = 'SQL, DMY'"],
      ["ok", "set datestyle = 'ISO'"],
      ["ok", "set extra_float_digits = 3"],
      ["error", "set extra_float_digits = 99"],
    ];
    assert.deepEqual(sets, [...round, ...round]);
  },
);

backendTest("set_config() is reported and kept across leases like SET", async (t) => {
  await using fx = await openDoor(t, { settings: { backendConnections: 1 } });
  await using client = await RawClient.connect(fx.port, login);
  await using other = await RawClient.connect(fx.port, login);
  client.send(query("select pg_catalog.set_config('DateStyle', 'German', false)"));
  const set = await client.until();
  assert.equal(parameterStatus(set).get("DateStyle"), "German, DMY");
  other.send(query("select '2024-01-15'::date::text"));
  assert.equal(rowsOf(await other.until())[0][0], "2024-01-15");
  client.send(query("select '2024-01-15'::date::text"));
  assert.equal(rowsOf(await client.until())[0][0], "15.01.2024");
  client.send(query("select set_config('role', 'postgres', false)"));
  assert.equal(errorOf((await client.until())[0]).code, "42501");
});

backendTest("a WITH HOLD cursor outlives its transaction", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("declare c cursor with hold for select id from lists.samples order by id"));
  assert.equal(statusOf(await client.until()), "I");
  client.send(query("fetch 2 from c"));
  assert.deepEqual(rowsOf(await client.until()), [["1"], ["2"]]);
  client.send(query("fetch 2 from c"));
  assert.deepEqual(rowsOf(await client.until()), [["3"]]);
  client.send(query("close c"));
  assert.deepEqual(commandTags(await client.until()), ["CLOSE CURSOR"]);
});

backendTest("DEALLOCATE of a protocol statement works as in PostgreSQL", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  client.send(parse("_PLAN0x1", "select id from lists.samples where id = $1", NO_TYPES), SYNC);
  await client.until();
  client.send(query('SAVEPOINT x; DEALLOCATE "_PLAN0x1"'));
  const reply = await client.until();
  assert.equal(errorOf(reply[0]).code, "25P01", "SAVEPOINT outside a transaction");
  client.send(query('DEALLOCATE "_PLAN0x1"'));
  assert.deepEqual(commandTags(await client.until()), ["DEALLOCATE"]);
  client.send(bindText("", "_PLAN0x1", ["1"]), execute(""), SYNC);
  assert.equal(errorOf((await client.until())[0]).code, "26000");
});

backendTest("COPY (SELECT …) TO STDOUT streams its rows", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("copy (select id, label from lists.samples order by id) to stdout"));
  const reply = await client.until();
  assert.equal(types(reply), "HdddcCZ");
  assert.deepEqual(commandTags(reply), ["COPY 3"]);
  client.send(query("copy lists.samples from stdin"));
  assert.equal(errorOf((await client.until())[0]).code, "25006");
});

backendTest("binary result formats are forwarded untouched", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  // No parameters, one result column in binary.
  const bind = new Writer().begin(FrontendCode.Bind).str("").str("").i16(0).i16(0).i16(1).i16(1)
    .end().take();
  client.send(
    parse("", "select id from lists.samples where id = 2", NO_TYPES),
    bind,
    execute(""),
    SYNC,
  );
  const reply = await client.until();
  assert.equal(types(reply), "12DCZ");
  const row = reply[2].bytes;
  assert.deepEqual([...row.subarray(7, 15)], [0, 0, 0, 4, 0, 0, 0, 2]);
});

backendTest("a CancelRequest cancels a client waiting for a busy backend", async (t) => {
  await using fx = await openDoor(t, { settings: { backendConnections: 1 } });
  await using holder = await RawClient.connect(fx.port, login);
  await using waiter = await RawClient.connect(fx.port, login);
  holder.send(query("begin"));
  await holder.until();
  waiter.send(query("select 1"));
  await new Promise((resolve) => setTimeout(resolve, 200));
  await using cancel = await RawClient.open(fx.port);
  await cancel.write(cancelRequest(waiter.pid, waiter.secret ^ 1));
  await cancel.closedByServer();
  await using cancel2 = await RawClient.open(fx.port);
  await cancel2.write(cancelRequest(waiter.pid, waiter.secret));
  await cancel2.closedByServer();
  const reply = await waiter.until();
  assert.equal(errorOf(reply[0]).code, "57014");
  holder.send(query("commit"));
  await holder.until();
  waiter.send(query("select 2"));
  assert.deepEqual(rowsOf(await waiter.until()), [["2"]]);
});

backendTest("an idle transaction is ended after the idle-in-transaction timeout", async (t) => {
  await using fx = await openDoor(t, { settings: { idleInTransactionSeconds: 1 } });
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("begin"));
  await client.until();
  const began = performance.now();
  const seen = await client.closedByServer(5_000);
  assert.ok(performance.now() - began < 3_000, "ended about a second after it went idle");
  assert.deepEqual(errorOf(seen[0]), {
    code: "25P03",
    message: "terminating connection due to idle-in-transaction timeout",
    position: undefined,
    severity: "FATAL",
  });
  await using again = await RawClient.connect(fx.port, login);
  again.send(query("select 1"));
  assert.equal(statusOf(await again.until()), "I");
});

backendTest("the per-user connection cap refuses one connection too many", async (t) => {
  await using fx = await openDoor(t, { settings: { maxConnectionsPerUser: 1 } });
  await using first = await RawClient.connect(fx.port, login);
  await assert.rejects(RawClient.connect(fx.port, login), /53300/);
  first.close();
  await new Promise((resolve) => setTimeout(resolve, 100));
  await using second = await RawClient.connect(fx.port, login);
  second.send(query("select 1"));
  await second.until();
});

backendTest("statements are audited with user, folder, text and rows", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("select id from lists.samples"));
  await client.until();
  client.send(
    parse("", "select id from lists.samples where id = $1", NO_TYPES),
    bindText("", "", ["2"]),
    execute(""),
    SYNC,
  );
  await client.until();
  client.send(query("drop table lists.samples"));
  await client.until();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await t.svc.audit.flush();
  const rows = await t.svc.db.selectFrom("audit_log").selectAll().where("door", "=", "sql")
    .orderBy("id").execute();
  const queries = rows.filter((r) => r.event === "sql.query");
  assert.deepEqual(queries.map((r) => [r.outcome, r.detail, r.rows]), [
    ["ok", "select id from lists.samples", 3],
    ["ok", "select id from lists.samples where id = $1", 1],
    ["denied", "drop table lists.samples", 0],
  ]);
  assert.ok(queries.every((r) => r.user_email === ALICE.email && r.container_path === FOLDER));
  assert.equal(rows.filter((r) => r.event === "login" && r.outcome === "ok").length, 1);
});

backendTest("the statement timeout ends long statements", async (t) => {
  await using fx = await openDoor(t, { settings: { statementTimeoutSeconds: 1 } });
  await using client = await RawClient.connect(fx.port, login);
  client.send(query(CROSS_JOIN));
  const error = (await client.until()).find((m) => m.type === "E")!;
  assert.equal(errorOf(error).code, "57014");
  assert.match(errorOf(error).message, /statement timeout/);
  // The session goes on in its folder's sandbox (on PGlite, on a restarted database).
  client.send(query("select count(*) from lists.samples"));
  assert.deepEqual(rowsOf(await client.until()), [["3"]]);
  client.send(query("select count(*) from lg_app.users"));
  assert.equal(errorOf((await client.until())[0]).code, "42P01");
  await t.svc.audit.flush();
  const entries = await t.svc.db.selectFrom("audit_log").select(["outcome", "message"])
    .where("door", "=", "sql").where("detail", "=", CROSS_JOIN).execute();
  assert.deepEqual(entries, [{
    outcome: "error",
    message: "57014 canceling statement due to statement timeout (limit 1 s, the connection's)",
  }]);
}, { onDisk: true });

backendTest(
  "Session keeps a lowered statement timeout across leases and never leaks it",
  async (t) => {
    await using fx = await openDoor(t, { settings: { backendConnections: 1 } });
    const show = async (client: RawClient) => {
      client.send(query("SHOW statement_timeout"));
      return rowsOf(await client.until())[0][0];
    };
    await using lowered = await RawClient.connect(fx.port, login);
    lowered.send(query("SET statement_timeout = '1s'"));
    assert.equal(statusOf(await lowered.until()), "I");
    assert.equal(await show(lowered), "1s");
    // Another client on the same backend gets the door's timeout back, not the server's default.
    await using other = await RawClient.connect(fx.port, login);
    assert.equal(await show(other), "30s");
    assert.equal(await show(lowered), "1s");
    assert.equal(await show(other), "30s");
  },
);
