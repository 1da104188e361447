import assert from "node:assert/strict";
import pg from "pg";
import { DenoSocket } from "../../../src/db/deno_socket.ts";
import { POSTGRES_URL } from "../../_support/backends.ts";

const ignore = POSTGRES_URL === undefined;

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, stream: () => new DenoSocket() });
  await client.connect();
  return client;
}

Deno.test({
  name: "DenoSocket carries pg's queries: values, errors with SQLSTATE, transactions, notices",
  ignore,
  fn: async () => {
    const client = await connect();
    try {
      const long = "x".repeat(5000) + "é";
      const { rows } = await client.query(
        "select $1::int as n, $2::text as ascii, $3::text as accented, $4::text as long",
        [42, "plain", "µg/mL – ü", long],
      );
      assert.deepEqual(rows, [{ n: 42, ascii: "plain", accented: "µg/mL – ü", long }]);
      // A page bigger than one read arrives whole.
      const big = await client.query(
        "select g, repeat('a', 100) as pad from generate_series(1, 2000) g",
      );
      assert.equal(big.rows.length, 2000);
      assert.equal(big.rows[1999].g, 2000);

      await assert.rejects(() => client.query("select * from no_such_table where x = $1", [1]), {
        code: "42P01",
      });
      await client.query("begin");
      await client.query("create temp table t (v int)");
      await client.query("insert into t values ($1)", [1]);
      await client.query("rollback");
      await assert.rejects(() => client.query("select * from t"), { code: "42P01" });

      const notices: string[] = [];
      client.on("notice", (notice: { message?: string }) => notices.push(notice.message ?? ""));
      await client.query("do $$ begin raise notice 'hello'; end $$");
      assert.deepEqual(notices, ["hello"]);
    } finally {
      await client.end();
    }
  },
});

Deno.test({
  name: "DenoSocket reports a connection the server ends as an error",
  ignore,
  fn: async () => {
    const client = await connect();
    const admin = await connect();
    try {
      const codes: (string | undefined)[] = [];
      client.on("error", (error: Error & { code?: string }) => codes.push(error.code));
      const ended = new Promise((resolve) => client.on("end", resolve));
      const { rows } = await client.query("select pg_backend_pid() as pid");
      await admin.query("select pg_terminate_backend($1)", [rows[0].pid]);
      await ended;
      assert.equal(codes[0], "57P01");
      await assert.rejects(() => client.query("select 1"), /not queryable/);
    } finally {
      await admin.end();
      await client.end().catch(() => {});
    }
  },
});
