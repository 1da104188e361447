/**
 * The SQL real clients sent (/work/shared/clients/*.sql), replayed through
 * the SQL door itself, one door connection per captured connection, in wire
 * order: simple Query for what the client sent as a Query, Parse (with the
 * client's parameter types), Describe, Bind and Execute for what it sent
 * with the extended protocol. Every statement must answer as in the capture
 * (a few fail there too), and no byte the reader receives may name a
 * physical object, the other folder or its data.
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { Reader, Writer } from "../../wire/protocol/bytes.ts";
import { FrontendCode } from "../../wire/protocol/message_codes.ts";
import { bindText, execute, parse, query, SYNC, target } from "../../wire/protocol/messages.ts";
import {
  type Entry,
  expectedError,
  loadCorpus,
  sampleValue,
  substitute,
} from "../src/sql/_corpus.ts";
import {
  buildWorld,
  READER,
  READER_PASSWORD,
  SECRET_VALUE,
  type World,
} from "../src/sql/_world.ts";
import { errorOf, type Message, RawClient, rowsOf, text } from "./_client.ts";
import { startDoor } from "./_door.ts";

const corpus = loadCorpus();

/** Type names sampleValue() knows, by the OIDs ParameterDescription carries. */
const PARAMETER_TYPES: Record<number, string> = {
  16: "boolean",
  17: "bytea",
  20: "bigint",
  21: "smallint",
  23: "integer",
  26: "oid",
  1082: "date",
  1114: "timestamp without time zone",
  1184: "timestamp with time zone",
  1700: "numeric",
  2950: "uuid",
  3802: "jsonb",
  1002: '"char"[]',
  1009: "text[]",
};

function paramTypes(oids: number[]): Uint8Array {
  const w = new Writer().i16(oids.length);
  for (const oid of oids) w.i32(oid);
  return w.take();
}

/** The OIDs of a ParameterDescription. */
function parameterOids(messages: Message[]): number[] {
  const description = messages.find((m) => m.type === "t");
  if (!description) return [];
  const r = new Reader(description.bytes, 5);
  return Array.from({ length: r.i16() }, () => r.i32());
}

/** Runs one entry as its client sent it; the messages up to ReadyForQuery. */
async function replay(client: RawClient, entry: Entry, sql: string): Promise<Message[]> {
  if (!entry.paramTypes) {
    client.send(query(sql));
    return await client.until();
  }
  const name = entry.statement ?? "";
  client.send(
    parse(name, sql, paramTypes(entry.paramTypes)),
    target(FrontendCode.Describe, "S", name),
    SYNC,
  );
  const described = await client.until();
  if (described.some((m) => m.type === "E")) return described;
  const values = parameterOids(described).map((oid) =>
    sampleValue(PARAMETER_TYPES[oid] ?? "text").slice(1, -1).replaceAll("''", "'")
  );
  client.send(bindText("", name, values), execute(""), SYNC);
  return [...described, ...await client.until()];
}

function leaks(messages: Message[], world: World): string[] {
  const received = text(messages);
  return ["lg_", SECRET_VALUE, "secret", "/home/b", world.other.role]
    .filter((marker) => received.includes(marker));
}

backendTest("the SQL door answers every statement real clients send", async (t) => {
  const world = await buildWorld(t);
  // The capture canceled its two sleeps; here they run into a timeout, long enough that psql's
  // heaviest catalog query (\df) finishes on a busy machine.
  await using fx = await startDoor(t, { settings: { statementTimeoutSeconds: 4 } });
  const pgTables = await (async () => {
    await using client = await RawClient.connect(fx.port, login());
    client.send(query("select 'pg_catalog.pg_tables'::regclass::oid"));
    return Number(rowsOf(await client.until())[0][0]);
  })();
  const failures: string[] = [];
  const answers = new Map<string, (string | null)[][]>();
  for (const [connection, entries] of Map.groupBy(corpus!, (e) => `${e.file}: ${e.connection}`)) {
    await using client = await RawClient.connect(fx.port, login());
    for (const entry of entries) {
      const label = `${connection} [${entry.exchange}] ${entry.sql.slice(0, 70)}`;
      const messages = await replay(client, entry, substitute(entry.sql, world, pgTables));
      const error = messages.find((m) => m.type === "E");
      const expected = expectedError(entry);
      const code = error ? errorOf(error).code : undefined;
      if (code !== expected) {
        failures.push(`${label}: ${error ? `${code} ${errorOf(error).message}` : "no error"}`);
      }
      const leaked = leaks(messages, world);
      if (leaked.length) failures.push(`${label}: received ${leaked.join(", ")}`);
      answers.set(`${entry.file}#${entry.exchange}#${entry.sql}`, rowsOf(messages));
    }
  }
  assert.deepEqual(failures, []);
  const rows = (file: string, exchange: number, start: string) =>
    [...answers].find(([key]) => key.startsWith(`${file}#${exchange}#${start}`))?.[1];
  // A few answers in full: psql's \l and \dt.
  assert.deepEqual(rows("psql.sql", 1, "SELECT d.datname")?.map((r) => r[0]), ["/home/a"]);
  assert.deepEqual(rows("psql.sql", 3, "SELECT n.nspname")?.map((r) => r.slice(0, 2)), [
    ["lists", "samples"],
    ["lists", "sites"],
  ]);
}, { ignore: corpus === undefined });

function login() {
  return { user: READER, password: READER_PASSWORD, database: "/home/a" };
}
