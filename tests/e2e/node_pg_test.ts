import assert from "node:assert/strict";
import pg from "pg";
import { backendTest } from "../_support/backends.ts";
import { ALICE, BOB, connectDoorClient, FOLDER, openDoor, SECRET_FOLDER } from "../wire/_door.ts";

function client(port: number, user = ALICE, database = FOLDER): pg.Client {
  return new pg.Client({
    host: "127.0.0.1",
    port,
    user: user.email,
    password: user.password,
    database,
    // Values as text, so every type compares the same on both backends.
    types: { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig,
  });
}

backendTest("node-pg reads every column type, with and without parameters", async (t) => {
  await using fx = await openDoor(t);
  const c = client(fx.port);
  await c.connect();
  try {
    const all = await c.query("select * from lists.samples order by id");
    assert.equal(all.rows.length, 3);
    assert.deepEqual(all.fields.map((f: { dataTypeID: number }) => f.dataTypeID), [
      23,
      25,
      20,
      1700,
      701,
      16,
      1082,
      1114,
      1184,
      2950,
      3802,
    ]);
    assert.notEqual(all.fields[0].tableID, 0, "RowDescription carries the table OID");
    assert.deepEqual(all.rows[0], {
      id: "1",
      label: "alpha",
      big: "9007199254740993",
      amount: "12.345",
      ratio: "0.5",
      ok: "t",
      day: "2024-01-15",
      taken: "2024-01-15 10:30:00",
      stamped: "2024-01-15 10:30:00+00",
      uid: "0b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6b",
      meta: '{"plate": 1, "wells": [1, 2]}',
    });
    const one = await c.query("select label from lists.samples where id = $1 and ok = $2", [
      2,
      false,
    ]);
    assert.deepEqual(one.rows, [{ label: 'beta, "quoted"' }]);
    const bytes = await c.query("select $1::bytea as b", [new Uint8Array([0, 1, 254, 255])]);
    assert.equal(bytes.rows[0].b, "\\x0001feff");
  } finally {
    await c.end();
  }
});

backendTest("node-pg named statements and binary results", async (t) => {
  await using fx = await openDoor(t);
  await using c = await connectDoorClient(fx.port);
  for (const id of [1, 2, 3, 1]) {
    const r = await c.query({
      name: "label_by_id",
      text: "select id, label from lists.samples where id = $1",
      values: [id],
    });
    assert.deepEqual(r.rows, [{ id, label: ["alpha", 'beta, "quoted"', "gamma"][id - 1] }]);
  }
  // (node-pg's binary int8 and float8 parsers are wrong under Deno even against PostgreSQL directly.)
  const binary = await c.query({
    text: "select id, label, ok from lists.samples where id = $1",
    values: [2],
    binary: true,
  });
  assert.deepEqual(binary.rows[0], { id: 2, label: 'beta, "quoted"', ok: false });
  await assert.rejects(c.query("select nope from lists.samples"), (e: pg.DatabaseError) => {
    assert.equal(e.code, "42703");
    assert.equal(e.position, "8");
    return true;
  });
  // The connection stays usable after an error in the extended protocol.
  assert.equal((await c.query("select $1::int + 1 as n", [1])).rows[0].n, 2);
  await assert.rejects(c.query("update lists.samples set label = 'x'"), /read-only/);
});

backendTest("node-pg: transactions and a pool of many idle connections", async (t) => {
  await using fx = await openDoor(t, { settings: { backendConnections: 2 } });
  const pool = new pg.Pool({
    host: "127.0.0.1",
    port: fx.port,
    user: ALICE.email,
    password: ALICE.password,
    database: FOLDER,
    max: 30,
  });
  try {
    const clients: pg.PoolClient[] = await Promise.all(
      Array.from({ length: 30 }, () => pool.connect()),
    );
    // 30 client connections share two backend sessions.
    const counts = await Promise.all(
      clients.map((c, i) =>
        c.query("select count(*)::int as n from lists.samples where id <= $1", [i % 3 + 1])
      ),
    );
    assert.deepEqual(counts.map((r: { rows: { n: number }[] }) => r.rows[0].n).slice(0, 3), [
      1,
      2,
      3,
    ]);
    const tx = clients[0];
    await tx.query("begin");
    await tx.query("declare c cursor for select id from lists.samples order by id");
    assert.deepEqual((await tx.query("fetch 2 from c")).rows, [{ id: 1 }, { id: 2 }]);
    if (t.backend === "postgres") {
      // Others get through while one transaction holds a backend (PGlite runs one at a time).
      assert.equal((await clients[1].query("select 1 as one")).rows[0].one, 1);
    }
    await tx.query("commit");
    for (const c of clients) c.release();
  } finally {
    await pool.end();
  }
});

backendTest(
  "node-pg sees 28P01 for a bad password and 3D000 for folders it cannot read",
  async (t) => {
    await using fx = await openDoor(t);
    const bad = client(fx.port, { email: ALICE.email, password: "nope" });
    await assert.rejects(bad.connect(), (e: pg.DatabaseError) => e.code === "28P01");
    for (const [user, database] of [[BOB, FOLDER], [ALICE, SECRET_FOLDER]] as const) {
      const c = client(fx.port, user, database);
      await assert.rejects(c.connect(), (e: pg.DatabaseError) => {
        assert.equal(e.code, "3D000");
        assert.equal(e.message, `database "${database}" does not exist`);
        return true;
      });
    }
  },
);
