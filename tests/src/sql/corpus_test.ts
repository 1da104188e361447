/**
 * Every statement real clients sent (captured in /work/shared/clients/*.sql)
 * goes through analyze() and then runs on the engine in a sandboxed session,
 * one session per captured connection, in wire order. The captured tables
 * are this test's lists: `samples` and `sites` in /home/a; the capture's view
 * `sample_summary` reads `samples` (lists are tables). OIDs the capture saw
 * are replaced by this database's. Nothing the reader gets back may contain
 * a physical name (`lg_`), the other folder's list, its data or its path.
 */
import assert from "node:assert/strict";
import { backendTest } from "../../_support/backends.ts";
import { analyze, type FolderScope, hidePhysicalNames } from "../../../src/sql/mod.ts";
import {
  type Answer,
  buildWorld,
  clientQuery,
  EngineError,
  leaks,
  openSandbox,
  READER,
  type Sandbox,
} from "./_world.ts";
import {
  type Entry,
  expectedError,
  loadCorpus,
  sampleValue,
  substitute,
  TYPE_NAMES,
} from "./_corpus.ts";

const corpus = loadCorpus();

/** Runs one entry as the wire server would; returns its answers. */
async function run(
  box: Sandbox,
  entry: Entry,
  text: string,
  scope: FolderScope,
  n: number,
): Promise<Answer[]> {
  const analysis = analyze(text, scope);
  if (!analysis.ok || !entry.paramTypes || analysis.statements[0].kind !== "select") {
    return await clientQuery(box, scope, text);
  }
  // Extended protocol: prepare with the client's parameter types, then
  // execute with a value of each type the engine settled on.
  const count = Math.max(0, ...[...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  const types = Array.from({ length: count }, (_, i) => TYPE_NAMES[entry.paramTypes![i] ?? 0]);
  // A named statement lives on (the client DEALLOCATEs it); the unnamed one
  // is replaced by the next Parse.
  const name = entry.statement ? `"${entry.statement}"` : `corpus_${n}`;
  await box.exec(`PREPARE ${name} ${count ? `(${types.join(", ")})` : ""} AS ${analysis.text}`);
  const [{ rows }] = await box.exec(
    `SELECT parameter_types::text[] AS types FROM pg_prepared_statements ` +
      `WHERE name = '${entry.statement ?? name}'`,
  );
  const settled = rows[0].types as string[] | string;
  const list = Array.isArray(settled)
    ? settled
    : settled.slice(1, -1).split(",").map((t) => t.replace(/^"|"$/g, ""));
  try {
    return await box.exec(
      `EXECUTE ${name} ${count ? `(${list.map(sampleValue).join(", ")})` : ""}`,
    );
  } finally {
    if (!entry.statement) await box.exec(`DEALLOCATE ${name}`);
  }
}

backendTest("analyze() and the engine answer every statement real clients send", async (t) => {
  const world = await buildWorld(t);
  const connections = Map.groupBy(corpus!, (e) => `${e.file}: ${e.connection}`);
  const answers = new Map<string, Answer[]>();
  const failures: string[] = [];
  let n = 0;
  let pgTables = 0;
  for (const [connection, entries] of connections) {
    // The cancel capture's sleeps are cut short by a one-second timeout.
    const scope = connection.startsWith("cancel")
      ? { ...world.scope, statementTimeoutMs: 1000 }
      : world.scope;
    const box = await openSandbox(t, scope);
    try {
      pgTables ||= Number(
        (await box.exec("SELECT 'pg_catalog.pg_tables'::regclass::oid AS oid"))[0].rows[0].oid,
      );
      for (const entry of entries) {
        const label = `${connection} [${entry.exchange}] ${entry.sql.slice(0, 70)}`;
        const expected = expectedError(entry);
        try {
          const result = await run(box, entry, substitute(entry.sql, world, pgTables), scope, n++);
          answers.set(`${entry.file}#${entry.exchange}#${entry.sql.slice(0, 40)}`, result);
          if (expected) failures.push(`${label}: expected error ${expected}, got rows`);
          const leaked = leaks(result, world);
          if (leaked.length) failures.push(`${label}: output contains ${leaked.join(", ")}`);
        } catch (error) {
          if (!(error instanceof EngineError)) throw error;
          const message = hidePhysicalNames(error.message, world.scope);
          if (message.includes("lg_")) failures.push(`${label}: error names ${message}`);
          if (error.code !== expected) failures.push(`${label}: ${error.code} ${message}`);
        }
      }
    } finally {
      await box.close();
    }
  }
  assert.deepEqual(failures, []);

  const rows = (file: string, exchange: number, start: string) => {
    const found = [...answers].find(([key]) => key.startsWith(`${file}#${exchange}#${start}`));
    assert.ok(found, `no answer for ${file} [${exchange}] ${start}`);
    return found[1].at(-1)!.rows;
  };
  // psql \l, \dn, \dt, \d samples, \du
  assert.deepEqual(rows("psql.sql", 1, "SELECT d.datname").map((r) => [r.Name, r.Owner]), [
    ["/home/a", READER],
  ]);
  assert.deepEqual(rows("psql.sql", 2, "SELECT n.nspname").map((r) => r.Name), ["core", "lists"]);
  assert.deepEqual(
    rows("psql.sql", 3, "SELECT n.nspname").map((r) => [r.Schema, r.Name, r.Owner]),
    [
      ["lists", "samples", READER],
      ["lists", "sites", READER],
    ],
  );
  assert.equal(Number(rows("psql.sql", 4, "SELECT c.oid")[0].oid), world.oids.samples);
  assert.equal(rows("psql.sql", 6, "SELECT a.attname").length, 16);
  assert.match(
    String(rows("psql.sql", 7, "SELECT c2.relname")[0].pg_get_indexdef),
    /^CREATE UNIQUE INDEX samples_pkey ON (lists\.)?samples USING btree \(sample_id\)$/,
  );
  // \du: the reader, and postgres, the owner of the built-in catalogs.
  assert.deepEqual(rows("psql.sql", 20, "SELECT r.rolname").map((r) => r.rolname), [
    "postgres",
    READER,
  ]);
  assert.equal(rows("psql.sql", 21, "select * from lists").length, 4);
  assert.equal(rows("psql.sql", 1, "select current_user")[0].current_user, READER);
  // psqlODBC: settings, tables, current_schema()
  assert.deepEqual(
    rows("psqlodbc.sql", 1, "SET DateStyle").map((r) => r.transaction_isolation),
    ["read committed"],
  );
  assert.deepEqual(
    rows("psqlodbc.sql", 4, "select relname, nspname, relkind from pg")
      .map((r) => [r.nspname, r.relname]),
    [["lists", "samples"], ["lists", "sites"]],
  );
  assert.equal(rows("psqlodbc.sql", 4, "select current_schema")[0].current_schema, "lists");
  // pgJDBC DatabaseMetaData
  assert.deepEqual(
    rows("pgjdbc.sql", 3, "SELECT nspname AS TABLE_SCHEM").map((r) => r.table_schem),
    ["core", "information_schema", "lists", "pg_catalog"],
  );
  const tables = rows("pgjdbc.sql", 4, "SELECT NULL AS TABLE_CAT")
    .filter((r) => r.table_type === "TABLE");
  assert.deepEqual(tables.map((r) => [r.table_schem, r.table_name]), [
    ["lists", "samples"],
    ["lists", "sites"],
  ]);
  assert.equal(tables[0].remarks, "Samples received at the lab");
  const columns = rows("pgjdbc.sql", 5, "SELECT * FROM (SELECT n.nspname");
  assert.equal(columns.length, 16);
  assert.equal(columns.find((c) => c.attname === "label")?.description, "Tube label");
  assert.deepEqual(
    rows("pgjdbc.sql", 8, "SELECT        result.TABLE_CAT").map((r) => r.column_name),
    ["sample_id"],
  );
  assert.equal(rows("pgjdbc.sql", 9, "SELECT setting FROM")[0].setting, "32");
  // pgcli and RPostgreSQL
  assert.deepEqual(rows("pgcli.sql", 10, "SELECT d.datname").map((r) => r.datname), ["/home/a"]);
  assert.deepEqual(
    rows("r-rpostgresql.sql", 2, "select tablename from pg_tables").map((r) => r.tablename).sort(),
    ["samples", "sites"],
  );
}, { ignore: corpus === undefined });
