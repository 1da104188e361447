import assert from "node:assert/strict";
import postgres from "postgres";
import { backendTest } from "../_support/backends.ts";
import { ALICE, BOB, FOLDER, openDoor, SAMPLES } from "../wire/_door.ts";

function connect(
  port: number,
  user = ALICE,
  options: postgres.Options<Record<string, never>> = {},
) {
  return postgres({
    host: "127.0.0.1",
    port,
    user: user.email,
    password: user.password,
    database: FOLDER,
    max: 4,
    onnotice: () => {},
    ...options,
  });
}

backendTest(
  "postgres.js runs named prepared statements (Describe + Flush) on every column type",
  async (t) => {
    await using fx = await openDoor(t);
    const sql = connect(fx.port);
    try {
      for (const id of [1, 2, 3, 1, 2]) {
        const [row] = await sql`select * from lists.samples where id = ${id}`;
        const expected = SAMPLES[id - 1];
        assert.equal(row.id, expected.id);
        assert.equal(row.label, expected.label);
        assert.equal(row.big, expected.big);
        assert.equal(row.ok, expected.ok);
        assert.equal(row.uid, expected.uid);
        assert.deepEqual(row.meta, expected.meta);
      }
      const [first] =
        await sql`select day, taken, stamped, ratio, amount from lists.samples where id = 1`;
      assert.equal(first.day.toISOString(), "2024-01-15T00:00:00.000Z");
      assert.equal(first.stamped.toISOString(), "2024-01-15T10:30:00.000Z");
      assert.equal(first.ratio, 0.5);
      assert.equal(first.amount, "12.345");
      const labels = await sql`select label from lists.samples where id = any(${[
        1,
        3,
      ]}) order by id`;
      assert.deepEqual(labels.map((r) => r.label), ["alpha", "gamma"]);
    } finally {
      await sql.end();
    }
  },
);

backendTest("postgres.js: unsafe(), transactions, cursors and errors", async (t) => {
  await using fx = await openDoor(t);
  const sql = connect(fx.port);
  try {
    assert.deepEqual([...await sql.unsafe("select count(*)::int as n from lists.samples")], [{
      n: 3,
    }]);
    const ids = await sql.begin(async (tx) => {
      const rows = await tx`select id from lists.samples order by id`;
      return rows.map((r) => r.id);
    });
    assert.deepEqual(ids, [1, 2, 3]);
    const batches: number[][] = [];
    await sql`select id from lists.samples order by id`.cursor(2, (rows) => {
      batches.push(rows.map((r) => r.id));
    });
    assert.deepEqual(batches, [[1, 2], [3]]);
    await assert.rejects(sql`select nope from lists.samples`, (e: postgres.PostgresError) => {
      assert.equal(e.code, "42703");
      return true;
    });
    await assert.rejects(sql`delete from lists.samples`, /read-only/);
    assert.deepEqual([...await sql`select 1 as one`], [{ one: 1 }]);
  } finally {
    await sql.end();
  }
});

backendTest("postgres.js cancels a running query", async (t) => {
  if (t.backend === "pglite") {
    return console.log(
      "SKIPPED on PGlite: a running statement cannot be canceled (see wire/README.md)",
    );
  }
  await using fx = await openDoor(t);
  const sql = connect(fx.port);
  try {
    // Connected first, so the cancel below reaches a running statement, not a login.
    await sql`select 1`;
    const sleeping = sql`select pg_sleep(30)`;
    const started = Date.now();
    setTimeout(() => sleeping.cancel(), 500);
    await assert.rejects(sleeping, (e: postgres.PostgresError) => e.code === "57014");
    // Well before the 30 s sleep would end on its own (generous for a loaded machine).
    assert.ok(Date.now() - started < 20_000);
    assert.deepEqual([...await sql`select 2 as two`], [{ two: 2 }]);
  } finally {
    await sql.end();
  }
});

backendTest("postgres.js sees 28P01 and 3D000", async (t) => {
  await using fx = await openDoor(t);
  const wrong = connect(fx.port, { email: ALICE.email, password: "wrong" });
  await assert.rejects(wrong`select 1`, (e: postgres.PostgresError) => e.code === "28P01");
  await wrong.end();
  const bob = connect(fx.port, BOB);
  await assert.rejects(bob`select 1`, (e: postgres.PostgresError) => e.code === "3D000");
  await bob.end();
});
