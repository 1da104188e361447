/**
 * "Create a list from a CSV file": the columns a file's header names, each
 * with the narrowest type every value fits (the type's own parser decides,
 * as an import would), required when no value is empty, and a key: the
 * first keyable column whose values are all present and distinct, else an
 * automatic one. The user confirms or corrects them before the list exists.
 */
import type { ImportLimits } from "../config.ts";
import { badRequest, LabgateError } from "../errors.ts";
import { COLUMN_TYPES, type ColumnTypeName } from "./column_types.ts";
import { readDelimited } from "./csv.ts";
import type { ListColumnInput } from "./lists.ts";

/** Rows read to infer types: enough to see the data, bounded for a large file. */
const SAMPLE_ROWS = 5000;

/** Types tried in order, narrowest first; Text takes anything. */
const CANDIDATES: ColumnTypeName[] = [
  "Integer",
  "BigInteger",
  "Decimal",
  "Double",
  "Boolean",
  "Date",
  "DateTime",
  "Timestamp",
  "UUID",
  "JSON",
];

const BOOLEAN_WORDS = /^(true|false|yes|no)$/i;
/** Decimal only when every value is written with the same number of places (12.50, 3.00). */
const FIXED_POINT = /^[+-]?\d+\.(\d+)$/;

function fits(type: ColumnTypeName, values: string[]): boolean {
  if (type === "Boolean" && !values.every((v) => BOOLEAN_WORDS.test(v))) return false;
  if (type === "JSON" && !values.every((v) => /^[[{]/.test(v.trim()))) return false;
  if (type === "Decimal") {
    const places = values.map((v) => FIXED_POINT.exec(v)?.[1].length);
    if (places.some((p) => p === undefined) || new Set(places).size !== 1) return false;
  }
  return values.every((v) => !(COLUMN_TYPES[type].parse(v) instanceof Error));
}

interface InferredList {
  columns: (ListColumnInput & { required: boolean })[];
  /** A column that can be the key, or null for an automatic one. */
  key: string | null;
  /** Data rows in the file (all of them, not only those sampled). */
  rows: number;
}

export async function inferColumns(
  input: string | Uint8Array,
  limits: ImportLimits,
): Promise<InferredList> {
  let file: Awaited<ReturnType<typeof readDelimited>>;
  try {
    file = await readDelimited(input, { limits });
  } catch (error) {
    if (error instanceof LabgateError) throw error;
    throw badRequest(`The file cannot be read: ${(error as Error).message}`);
  }
  const { header, data, valid } = file;
  if (!valid) throw badRequest("The file is not valid UTF-8: save it as UTF-8 and try again");
  const sample = data.slice(0, SAMPLE_ROWS);
  const columns = header.map((name, i) => {
    const values = sample.map((row) => (row[i] ?? "").trim());
    const present = values.filter((v) => v !== "");
    const type = present.length ? CANDIDATES.find((t) => fits(t, present)) ?? "Text" : "Text";
    return { name: name.trim(), type, required: present.length === values.length };
  });
  const key = columns.find((column, i) => {
    if (!COLUMN_TYPES[column.type as ColumnTypeName].keyable || !column.required) return false;
    const values = data.map((row) => row[i]?.trim());
    return new Set(values).size === values.length;
  });
  return { columns, key: key?.name ?? null, rows: data.length };
}
