import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { ALICE, connectDoorClient, FOLDER, openDoor } from "../wire/_door.ts";
import { installed, PYTHON, run, runPython, skipped } from "./_clients.ts";

const LIMITS = { maxResultRows: 1000, maxResultBytes: 256 * 1024 };

backendTest(
  "psql gets 54000 past the result limits and goes on with the next statement",
  async (t) => {
    if (!await installed("psql")) return skipped("psql");
    await using fx = await openDoor(t, { settings: LIMITS });
    const out = await run("psql", [
      "-X",
      "-A",
      "-t",
      `host=127.0.0.1 port=${fx.port} dbname=${FOLDER} user=${ALICE.email} sslmode=disable`,
      "-c",
      "select g from generate_series(1, 5000) g",
      "-c",
      "select repeat('x', 1000) from generate_series(1, 500)",
      "-c",
      "select count(*) from generate_series(1, 5000)",
      "-c",
      "copy (select g from generate_series(1, 5000) g) to stdout",
    ], { env: { PGPASSWORD: ALICE.password, PGCONNECT_TIMEOUT: "10" } });
    assert.match(
      out.stderr,
      /ERROR: {2}The statement's result is larger than the 1000 rows .*maxResultRows/,
    );
    assert.match(
      out.stderr,
      /ERROR: {2}The statement's result is larger than the 262144 bytes .*maxResultBytes/,
    );
    assert.match(out.stdout, /^5000$/m, "the connection went on");
    assert.equal((out.stderr.match(/ERROR:/g) ?? []).length, 3, "COPY TO STDOUT is limited too");
  },
);

const SCRIPT = `
import json, sys
import psycopg2
port, user, password, db = sys.argv[1:5]
conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password, dbname=db,
                        sslmode="disable", connect_timeout=10)
conn.autocommit = True
out = {}
cur = conn.cursor()
try:
    cur.execute("select g from generate_series(1, 100000) g")
    out["rows"] = len(cur.fetchall())
except psycopg2.Error as e:
    out["code"] = e.pgcode
    out["message"] = e.pgerror
cur.execute("select count(*) from generate_series(1, 100000)")
out["after"] = cur.fetchone()[0]
# A named cursor fetches in parts: each FETCH is a statement of its own, within the limit.
conn.autocommit = False
named = conn.cursor(name="parts")
named.itersize = 500
named.execute("select g from generate_series(1, 5000) g")
out["cursor"] = sum(1 for _ in named)
print(json.dumps(out))
`;

backendTest(
  "psycopg2 gets 54000 past maxResultRows; a named cursor reads more in parts",
  async (t) => {
    if (!await installed(PYTHON, ["-c", "import psycopg2"])) return skipped("python3-psycopg2");
    await using fx = await openDoor(t, { settings: LIMITS });
    const result = await runPython(SCRIPT, [String(fx.port), ALICE.email, ALICE.password, FOLDER]);
    assert.equal(result.stderr, "");
    const out = JSON.parse(result.stdout);
    assert.equal(out.code, "54000");
    assert.match(out.message, /1000 rows .*setting maxResultRows/);
    assert.equal(out.after, 100000);
    assert.equal(out.cursor, 5000);
  },
);

backendTest("node-postgres gets 54000 for an extended-protocol query past the limit", async (t) => {
  await using fx = await openDoor(t, { settings: LIMITS });
  await using client = await connectDoorClient(fx.port);
  const error = await client.query("select g from generate_series(1, $1::int) g", [50_000])
    .then(() => null, (e: Error & { code?: string }) => e);
  assert.equal(error?.code, "54000");
  assert.match(error.message, /1000 rows/);
  const { rows } = await client.query("select $1::int as n", [7]);
  assert.deepEqual(rows, [{ n: 7 }]);
});
