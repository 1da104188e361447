/**
 * pg_dump through the SQL door: what the user may read, dumped as pg_dump
 * dumps a PostgreSQL database, and restored into an empty one with psql.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import pg from "pg";
import { backendTest, POSTGRES_URL, type TestContext } from "../_support/backends.ts";
import { ALICE, connectDoorClient, FOLDER, openDoor } from "../wire/_door.ts";
import { installed, run, skipped } from "./_clients.ts";

function pgDump(port: number, ...args: string[]) {
  const info = `host=127.0.0.1 port=${port} dbname=${FOLDER} user=${ALICE.email} sslmode=disable`;
  return run("pg_dump", ["-d", info, ...args], { env: { PGPASSWORD: ALICE.password } });
}

/** Whether this pg_dump can dump the test's engine (pg_dump refuses newer servers). */
async function dumpable(t: TestContext): Promise<boolean> {
  if (!await installed("pg_dump")) {
    skipped("pg_dump");
    return false;
  }
  const client = (await run("pg_dump", ["--version"])).stdout.match(/(\d+)\./)?.[1];
  const { rows } = await sql<{ major: number }>`
    select current_setting('server_version_num')::int / 10000 as major`
    .execute(t.svc.database.root);
  if (Number(client) < rows[0].major) {
    skipped(`pg_dump ${rows[0].major} (pg_dump ${client} cannot dump PostgreSQL ${rows[0].major})`);
    return false;
  }
  return true;
}

backendTest(
  "pg_dump --schema-only and --data-only dump the lists and nothing physical",
  async (t) => {
    if (!await dumpable(t)) return;
    await using fx = await openDoor(t);
    const schema = await pgDump(fx.port, "--schema-only", "-n", "lists");
    assert.equal(schema.stderr, "");
    assert.equal(schema.code, 0);
    assert.match(schema.stdout, /CREATE TABLE lists\.samples \(\n {4}id integer NOT NULL,/);
    assert.match(schema.stdout, /ADD CONSTRAINT samples_pkey PRIMARY KEY \(id\)/);
    assert.doesNotMatch(schema.stdout, /COPY|lg_|hidden|secret/);
    const data = await pgDump(fx.port, "--data-only", "-t", "lists.samples");
    assert.equal(data.stderr, "");
    assert.match(data.stdout, /COPY lists\.samples \(id, label, [^)]*\) FROM stdin;\n1\talpha\t/);
    assert.doesNotMatch(data.stdout, /CREATE|lg_/);
    const other = await pgDump(fx.port, "-t", "lists.hidden");
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /no matching tables were found/);
  },
);

backendTest(
  "a plain pg_dump of the folder restores into an empty database with psql",
  async (t) => {
    if (!await dumpable(t) || !POSTGRES_URL) return;
    if (!await installed("psql")) return skipped("psql");
    await using fx = await openDoor(t);
    const full = await pgDump(fx.port);
    assert.equal(full.stderr, "");
    assert.match(full.stdout, /CREATE VIEW core\.containers AS/);
    assert.doesNotMatch(full.stdout, /lg_|hidden|secret|Dumped from database version .*Debian/);
    // The owner is the user, a role the target server need not have.
    const dump = await pgDump(fx.port, "--no-owner", "-n", "lists");
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    const name = `lg_restore_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    await admin.query(`create database ${name}`);
    try {
      const url = new URL(POSTGRES_URL);
      url.pathname = `/${name}`;
      const restore = await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", url.toString()], {
        stdin: dump.stdout,
      });
      assert.equal(restore.stderr, "");
      assert.equal(restore.code, 0);
      const restored = new pg.Client({ connectionString: url.toString() });
      await restored.connect();
      try {
        const { rows } = await restored.query("select * from lists.samples order by id");
        await using door = await connectDoorClient(fx.port);
        const expected = await door.query("select * from lists.samples order by id");
        assert.deepEqual(rows, expected.rows);
        assert.equal(rows.length, 3);
      } finally {
        await restored.end();
      }
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  },
);
