/**
 * psql's meta-commands through the SQL door: each answers without error and
 * shows the folder's lists, the core views and the public catalogs only —
 * never a physical name, another folder, labgate's own tables or other users.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest, type TestContext } from "../_support/backends.ts";
import { folderSchema } from "../../src/data/physical.ts";
import { APP_SCHEMA } from "../../src/db/mod.ts";
import { ALICE, FOLDER, openDoor, SECRET_FOLDER } from "../wire/_door.ts";
import { installed, run, skipped } from "./_clients.ts";

/**
 * Names of labgate's own tables that cannot appear for another reason (not
 * core.containers or core.users, not words like "lists" or "settings").
 */
async function appTables(t: TestContext): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select tablename as name from pg_catalog.pg_tables
    where schemaname = ${APP_SCHEMA}`.execute(t.svc.db);
  return rows.map((r) => r.name).filter((n) => n.includes("_") || n === "principals");
}

function psql(port: number, ...commands: string[]) {
  const info = `host=127.0.0.1 port=${port} dbname=${FOLDER} user=${ALICE.email} sslmode=disable`;
  return run("psql", ["-X", "-A", "-F", "|", info, ...commands.flatMap((c) => ["-c", c])], {
    env: { PGPASSWORD: ALICE.password, PGCONNECT_TIMEOUT: "10" },
  });
}

/** Rows of an unaligned listing (header, separators and the row count left out). */
function rows(stdout: string): string[] {
  const lines = stdout.trim().split("\n").filter((l) => !/^\(\d+ rows?\)$/.test(l));
  return lines.slice(lines.findIndex((l) => l.includes("|")) + 1).filter((l) => l.includes("|"));
}

backendTest("psql meta-commands answer with the folder's objects only", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t);
  await sql`comment on table ${sql.id(folderSchema(await folderId(t)), "samples")} is ${
    sql.lit("One row per tube")
  }`.execute(t.svc.database.root);
  const forbidden = [
    /lg_/,
    /\bhidden\b/,
    /top secret/,
    new RegExp(SECRET_FOLDER),
    /bob@example\.org/,
    /admin@example\.org/,
    new RegExp(`\\b(${(await appTables(t)).join("|")})\\b`),
  ];
  const outputs = new Map<string, string>();
  for (
    const command of [
      "\\l",
      "\\l+",
      "\\dn",
      "\\dn+",
      "\\dt",
      "\\dt *.*",
      "\\dv",
      "\\dv core.*",
      "\\di",
      "\\d lists.samples",
      "\\d+ lists.samples",
      "\\d core.users",
      "\\d+",
      "\\du",
      "\\du+",
      "\\dg",
      "\\df",
      "\\df *.*",
      "\\dd",
      "\\dd *",
      "\\dT",
      "\\dT+ lists.*",
      "\\dL",
      "\\dO",
      "\\dp",
      "\\dx",
      "\\deu",
      "\\dconfig",
      "\\conninfo",
    ]
  ) {
    const out = await psql(fx.port, command);
    // core is not on the search path (unqualified names mean lists): \dv core.* lists it.
    const empty = command === "\\dv" ? "Did not find any relations.\n" : "";
    assert.equal(out.stderr, empty, `${command}: ${out.stderr}`);
    assert.equal(out.code, 0, command);
    for (const pattern of forbidden) {
      assert.doesNotMatch(out.stdout, pattern, `${command} shows ${pattern}`);
    }
    outputs.set(command, out.stdout);
  }
  const listing = (command: string) => rows(outputs.get(command)!);
  assert.deepEqual(listing("\\l").map((r) => r.split("|").slice(0, 2)), [[FOLDER, ALICE.email]]);
  assert.deepEqual(listing("\\dn"), [`core|${ALICE.email}`, `lists|${ALICE.email}`]);
  assert.deepEqual(listing("\\dt"), [`lists|samples|table|${ALICE.email}`]);
  assert.deepEqual(
    listing("\\dt *.*").filter((r) => !/^(pg_catalog|information_schema)\|/.test(r)),
    [`lists|samples|table|${ALICE.email}`],
  );
  assert.deepEqual(listing("\\dv core.*"), [
    `core|containers|view|${ALICE.email}`,
    `core|users|view|${ALICE.email}`,
  ]);
  assert.deepEqual(listing("\\di"), [`lists|samples_pkey|index|${ALICE.email}|samples`]);
  assert.deepEqual(listing("\\d lists.samples").map((r) => r.split("|").slice(0, 2).join(" ")), [
    "id integer",
    "label text",
    "big bigint",
    "amount numeric",
    "ratio double precision",
    "ok boolean",
    "day date",
    "taken timestamp without time zone",
    "stamped timestamp with time zone",
    "uid uuid",
    "meta jsonb",
  ]);
  assert.match(outputs.get("\\d lists.samples")!, /"samples_pkey" PRIMARY KEY, btree \(id\)/);
  assert.match(outputs.get("\\d+")!, /^lists\|samples\|table\|.*\|One row per tube$/m);
  // \du shows the connected user only: labgate's users are not database roles.
  // postgres: the owner of the built-in catalogs, as pg_get_userbyid(10) names it.
  assert.deepEqual(listing("\\du").map((r) => r.split("|")[0]), [ALICE.email, "postgres"]);
  assert.deepEqual(listing("\\df"), []);
  assert.ok(listing("\\df *.*").every((r) => /^(pg_catalog|information_schema)\|/.test(r)));
  // \dd covers constraints, rules and triggers (table comments are in \d+ above).
  assert.deepEqual(listing("\\dd"), []);
  assert.deepEqual(listing("\\dT"), []);
  assert.deepEqual(listing("\\dL").map((r) => r.split("|")[0]), ["plpgsql"]);
  // Read-only: SELECT on lists, USAGE on the schema.
  const grant = (letters: string) => `${ALICE.email}=${letters}/${ALICE.email}`;
  assert.deepEqual(listing("\\dp").map((r) => r.split("|").slice(0, 4).join(" ")), [
    `lists samples table ${grant("r")}`,
  ]);
  assert.match(outputs.get("\\dn+")!, new RegExp(`^lists\\|[^|]*\\|${grant("U")}\\|`, "m"));
  assert.match(
    outputs.get("\\conninfo")!,
    new RegExp(`database "${FOLDER}" as user "${ALICE.email}"`),
  );
});

backendTest("psql \\x, \\copy and EXPLAIN work through the door", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t);
  const expanded = await psql(
    fx.port,
    "\\x on",
    "select id, label from lists.samples where id = 1",
  );
  assert.equal(expanded.stderr, "");
  assert.match(expanded.stdout, /^id\|1\nlabel\|alpha$/m);
  const copy = await psql(
    fx.port,
    "\\copy (select id, ok, day from lists.samples order by id) to stdout with (format csv, header)",
  );
  assert.equal(copy.stderr, "");
  assert.equal(copy.stdout, "id,ok,day\n1,t,2024-01-15\n2,f,2023-12-31\n3,,\n");
  // EXPLAIN of a catalog query: a plan without costs, in the user's names.
  const plan = await psql(
    fx.port,
    "explain select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace " +
      "where n.nspname = 'lists'",
  );
  assert.equal(plan.stderr, "");
  assert.match(plan.stdout, /^QUERY PLAN\n/);
  assert.match(plan.stdout, /\bpg_class\b/);
  assert.doesNotMatch(plan.stdout, /lg_|cost=|rows=/);
  const analyze = await psql(fx.port, "explain analyze select * from pg_class");
  assert.match(analyze.stderr, /EXPLAIN ANALYZE is not available for catalog queries/);
  const lists = await psql(fx.port, "explain (costs off) select * from lists.samples where id = 1");
  assert.equal(lists.stderr, "");
  assert.match(lists.stdout, /Index Scan using samples_pkey on samples/);
  // A refused statement in a string of several: none of them runs, and the error says so.
  const mixed = await psql(fx.port, "select 1; delete from lists.samples; select 2");
  assert.equal(mixed.stdout, "");
  assert.match(mixed.stderr, /Cannot run DELETE through the SQL door: it is read-only/);
  assert.match(mixed.stderr, /Statement 2 of 3 in this query string was refused/);
});

async function folderId(t: TestContext): Promise<number> {
  const folder = await t.svc.db.selectFrom("containers").select("id").where("path", "=", FOLDER)
    .executeTakeFirstOrThrow();
  return folder.id;
}
