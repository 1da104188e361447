/**
 * CSV on the way in and out. Export neutralizes cells a spreadsheet would
 * run as a formula (`=HYPERLINK(…)`, `@SUM(…)`, `+cmd|…`): such a cell gets a
 * leading `'`, which spreadsheets show as text — unless the caller asks for
 * the values as they are (machine-to-machine exports). Import refuses bytes
 * that are not UTF-8 rather than silently replacing them.
 */
import type { JsonValue } from "./column_types.ts";

/** What `?formulas=` may say on an export: `neutralize` (the default) or `keep`. */
export type FormulaHandling = "neutralize" | "keep";

/** Characters at the start of a cell that spreadsheets read as a formula or a command. */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A plain number, which stays as it is (`-5` is no formula). */
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function csvCell(value: JsonValue, formulas: FormulaHandling): string {
  if (value === null) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  if (
    formulas === "neutralize" && typeof value === "string" && FORMULA_START.test(text) &&
    !NUMBER.test(text)
  ) {
    text = `'${text}`;
  }
  return /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** CSV text of `rows` with a header of column names. */
export function toCsv(
  columns: { name: string }[],
  rows: Record<string, JsonValue>[],
  formulas: FormulaHandling = "neutralize",
): string {
  const lines = [columns.map((c) => csvCell(c.name, formulas)).join(",")];
  for (const row of rows) {
    lines.push(columns.map((c) => csvCell(row[c.name] ?? null, formulas)).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** Reads `?formulas=`; anything but `keep` neutralizes. */
export function formulaHandling(value: string | undefined): FormulaHandling {
  return value === "keep" ? "keep" : "neutralize";
}

/** What a decoder puts where the bytes were not UTF-8. */
export const REPLACEMENT = "\uFFFD";

/**
 * Decodes an uploaded file. `valid` is false when some bytes were not UTF-8:
 * the text then has U+FFFD in their place, so the importer can say which
 * row and column to fix.
 */
export function decodeUpload(bytes: Uint8Array): { text: string; valid: boolean } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes), valid: true };
  } catch {
    return { text: new TextDecoder("utf-8").decode(bytes), valid: false };
  }
}
