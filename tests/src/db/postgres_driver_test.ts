import assert from "node:assert/strict";
import { createPostgresPool, limitedPool } from "../../../src/db/postgres_driver.ts";
import { POSTGRES_URL } from "../../_support/backends.ts";
import type pg from "pg";

/** A test on a one-connection pool (PostgreSQL only), ended afterwards. */
function poolTest(name: string, fn: (pool: pg.Pool) => Promise<void>): void {
  Deno.test({
    name,
    ignore: POSTGRES_URL === undefined,
    fn: async () => {
      const pool = createPostgresPool(POSTGRES_URL!, 1);
      try {
        await fn(pool);
      } finally {
        await pool.end();
      }
    },
  });
}

poolTest(
  "createPostgresPool() prepares a statement with parameters once per connection",
  async (pool) => {
    const text = "select $1::int + 1 as n";
    assert.equal((await pool.query(text, [1])).rows[0].n, 2);
    assert.equal((await pool.query(text, [2])).rows[0].n, 3);
    const { rows } = await pool.query(
      "select count(*)::int as n from pg_prepared_statements where statement = $1",
      [text],
    );
    assert.equal(rows[0].n, 1);
    // Without parameters: the simple protocol, several statements in one text.
    await pool.query("select 1; select 2");
    // A statement that fails to prepare leaves the connection usable, and so does a retry.
    for (let i = 0; i < 2; i++) {
      await assert.rejects(() => pool.query("select nope from $1", [1]), { code: "42601" });
    }
    assert.equal((await pool.query(text, [3])).rows[0].n, 4);
  },
);

poolTest(
  "createPostgresPool() keeps at most 100 statements prepared on a connection",
  async (pool) => {
    for (let i = 0; i < 120; i++) {
      assert.equal((await pool.query(`select $1::int + ${i} as n`, [1])).rows[0].n, i + 1);
    }
    const { rows } = await pool.query("select count(*)::int as n from pg_prepared_statements");
    assert.equal(rows[0].n, 100);
  },
);

poolTest(
  "createPostgresPool() prepares a statement afresh after its table changed shape",
  async (pool) => {
    const table = `lg_shape_${crypto.randomUUID().replaceAll("-", "")}`;
    const client = await pool.connect(); // as Kysely runs its queries
    try {
      await client.query(`create table ${table} (id int)`);
      await client.query(`insert into ${table} values (1)`);
      const text = `select * from ${table} where id = $1`;
      assert.deepEqual((await client.query(text, [1])).rows, [{ id: 1 }]);
      await client.query(`alter table ${table} add column note text`);
      // The old plan is refused once; the next call runs the new shape.
      await assert.rejects(() => client.query(text, [1]), { code: "0A000" });
      assert.deepEqual((await client.query(text, [1])).rows, [{ id: 1, note: null }]);
    } finally {
      await client.query(`drop table if exists ${table}`);
      client.release();
    }
  },
);

poolTest(
  "createPostgresPool() survives a checked-out connection ended by the server",
  async (pool) => {
    // Kysely holds a connection between the statements of a transaction; the server ending it
    // then (a crash, a restart, pg_terminate_backend) must fail that connection, not labgate.
    const held = await pool.connect();
    const { rows } = await held.query("select pg_backend_pid() as pid");
    // The connection's end, not the client's "error" event: a listener there would hide the bug.
    const { connection } = held as unknown as {
      connection: { once(e: string, f: () => void): void };
    };
    const noticed = new Promise<void>((resolve) => connection.once("end", resolve));
    const admin = createPostgresPool(POSTGRES_URL!, 1);
    try {
      await admin.query("select pg_terminate_backend($1)", [rows[0].pid]);
    } finally {
      await admin.end();
    }
    await noticed;
    await assert.rejects(() => held.query("select 1"), /not queryable/);
    held.release();
    // The broken connection is dropped as it comes back (not when its socket closes, later),
    // so it is not handed out again.
    assert.equal(pool.totalCount, 0);
    assert.equal((await pool.query("select 1 as n")).rows[0].n, 1);
  },
);

poolTest(
  "limitedPool() sets a connection's statement_timeout once, until another limit takes it",
  async (pool) => {
    const sent: string[] = [];
    pool.on("connect", (client: pg.PoolClient) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      client.query = ((...args: unknown[]) => {
        sent.push(String(args[0]));
        return query(...args);
      }) as typeof client.query;
    });
    const read = async (ms: number) => {
      // Kysely's type of a pooled client; it is pg's.
      const client = await limitedPool(pool, ms).connect() as unknown as pg.PoolClient;
      try {
        return (await client.query("show statement_timeout")).rows[0].statement_timeout;
      } finally {
        client.release();
      }
    };
    assert.equal(await read(30_000), "30s");
    assert.equal(await read(30_000), "30s");
    assert.equal(await read(250.7), "250ms");
    assert.equal(await read(30_000), "30s");
    assert.deepEqual(sent, [
      "set statement_timeout = 30000",
      "show statement_timeout",
      "show statement_timeout",
      "set statement_timeout = 250",
      "show statement_timeout",
      "set statement_timeout = 30000",
      "show statement_timeout",
    ]);
  },
);
