/**
 * The SQL real clients sent (captured in /work/shared/clients/*.sql), one
 * entry per statement in wire order, and how this test world stands in for
 * the capture's tables, OIDs and parameter values.
 */
import type { World } from "./_world.ts";

const CLIENTS = "/work/shared/clients";

export interface Entry {
  file: string;
  connection: string;
  exchange: number;
  sql: string;
  /** Parameter type OIDs of an extended-protocol Parse (0: unspecified). */
  paramTypes?: number[];
  /** The prepared statement's name, when the client named it. */
  statement?: string;
}

function readCorpus(): Entry[] | undefined {
  let files: string[];
  try {
    files = [...Deno.readDirSync(CLIENTS)].map((e) => e.name).filter((n) => n.endsWith(".sql"))
      .sort();
  } catch {
    return undefined;
  }
  const entries: Entry[] = [];
  for (const file of files) {
    let connection = "";
    let current: Entry | undefined;
    for (const line of Deno.readTextFileSync(`${CLIENTS}/${file}`).split("\n")) {
      const section = /^-- =+ (.*?) =+$/.exec(line);
      const header = /^-- \[(\d+)\] (.*)$/.exec(line);
      if (section || header) {
        if (current?.sql.trim()) entries.push({ ...current, sql: current.sql.trim() });
        current = undefined;
      }
      if (section) connection = section[1];
      else if (header) {
        const types = /paramTypes=\[([\d,]*)\]/.exec(header[2]);
        const name = /stmt="([^"]+)"/.exec(header[2]);
        current = {
          file,
          connection,
          exchange: Number(header[1]),
          sql: "",
          paramTypes: types ? types[1].split(",").filter((t) => t).map(Number) : undefined,
          statement: name?.[1],
        };
      } else if (current && !(current.sql === "" && line.startsWith("--"))) {
        current.sql += line + "\n";
      }
    }
    if (current?.sql.trim()) entries.push({ ...current, sql: current.sql.trim() });
  }
  return entries;
}

/** The corpus, or undefined when this machine has no captures. */
export function loadCorpus(): Entry[] | undefined {
  const entries = readCorpus();
  if (!entries) console.log(`SQL corpus test skipped: ${CLIENTS} is not present on this machine`);
  return entries;
}

/** The capture's names and OIDs, mapped to this test's. */
export function substitute(text: string, world: World, pgTables: number): string {
  return text
    .replaceAll("lists.sample_summary", "lists.samples")
    .replaceAll("16398", String(world.oids.samples))
    .replaceAll("16428", String(world.oids.samples))
    .replaceAll("16390", String(world.oids.sites))
    .replaceAll("12033", String(pgTables));
}

/** Statements that fail in the capture too, and how. */
export function expectedError(entry: Entry): string | undefined {
  if (/no_such_table|nope/.test(entry.sql)) return "42P01";
  if (/pg_sleep\(5\)/.test(entry.sql)) return "57014";
  return undefined;
}

export const TYPE_NAMES: Record<number, string> = {
  0: "unknown",
  16: "bool",
  17: "bytea",
  20: "int8",
  21: "int2",
  23: "int4",
  25: "text",
  1043: "varchar",
  1082: "date",
  1184: "timestamptz",
  1700: "numeric",
  2950: "uuid",
  3802: "jsonb",
};

/** A value for a parameter of a given type, as a SQL literal. */
export function sampleValue(type: string): string {
  if (/^(smallint|integer|bigint|oid)$/.test(type)) return "'1'";
  if (/\[\]$/.test(type)) return "'{r,v,m,p,f}'";
  const values: Record<string, string> = {
    boolean: "'true'",
    bytea: "'\\x01'",
    jsonb: `'{"a": 1}'`,
    numeric: "'1.5'",
    "timestamp with time zone": "'2024-01-01 00:00:00+00'",
    "timestamp without time zone": "'2024-01-01 00:00:00'",
    date: "'2024-01-01'",
    uuid: "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
  };
  return values[type] ?? "'A%'";
}
