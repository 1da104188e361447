/**
 * CSV on the way in and out. Export neutralizes cells a spreadsheet would
 * run as a formula (`=HYPERLINK(…)`, `@SUM(…)`, `+cmd|…`): such a cell gets a
 * leading `'`, which spreadsheets show as text — unless the caller asks for
 * the values as they are (machine-to-machine exports). Import refuses bytes
 * that are not UTF-8 rather than silently replacing them.
 */
import { parse as parseCsv } from "csv-parse/sync";
import type { JsonValue } from "./column_types.ts";

/** What `?formulas=` may say on an export: `neutralize` (the default) or `keep`. */
export type FormulaHandling = "neutralize" | "keep";

/** Characters at the start of a cell that spreadsheets read as a formula or a command. */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A plain number, which stays as it is (`-5` is no formula). */
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** CSV, or TSV (tab-separated; cells holding a tab, quote or line break are quoted as in CSV). */
export type ExportFormat = "csv" | "tsv";

export interface ExportOptions {
  format?: ExportFormat;
  formulas?: FormulaHandling;
}

function cell(value: JsonValue, options: Required<ExportOptions>): string {
  if (value === null) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  if (
    options.formulas === "neutralize" && typeof value === "string" && FORMULA_START.test(text) &&
    !NUMBER.test(text)
  ) {
    text = `'${text}`;
  }
  const special = options.format === "tsv" ? /["\t\r\n]/ : /[",\r\n]/;
  return special.test(text) || /^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function line(values: JsonValue[], options: Required<ExportOptions>): string {
  return values.map((v) => cell(v, options)).join(options.format === "tsv" ? "\t" : ",") + "\r\n";
}

function withDefaults(options: ExportOptions): Required<ExportOptions> {
  return { format: options.format ?? "csv", formulas: options.formulas ?? "neutralize" };
}

/** CSV text of `rows` with a header of column names. */
export function toCsv(
  columns: { name: string }[],
  rows: Record<string, JsonValue>[],
  formulas: FormulaHandling = "neutralize",
): string {
  const options = withDefaults({ formulas });
  let text = line(columns.map((c) => c.name), options);
  for (const row of rows) text += line(columns.map((c) => row[c.name] ?? null), options);
  return text;
}

/**
 * A header and then the rows of each batch as they come, encoded: an export
 * of a million rows never holds more than one batch.
 */
export function exportStream(
  columns: { name: string }[],
  batches: AsyncIterable<Record<string, JsonValue>[]>,
  exportOptions: ExportOptions = {},
): ReadableStream<Uint8Array> {
  const options = withDefaults(exportOptions);
  const encoder = new TextEncoder();
  const iterator = batches[Symbol.asyncIterator]();
  let headerSent = false;
  return new ReadableStream({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(encoder.encode(line(columns.map((c) => c.name), options)));
        return;
      }
      const next = await iterator.next();
      if (next.done) return controller.close();
      let text = "";
      for (const row of next.value) text += line(columns.map((c) => row[c.name] ?? null), options);
      controller.enqueue(encoder.encode(text));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
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

export type ImportFormat = "csv" | "tsv";

/** Guesses the delimiter from the header line. */
export function detectFormat(text: string): ImportFormat {
  const header = text.slice(0, text.search(/\r?\n|$/));
  return header.split("\t").length > header.split(",").length ? "tsv" : "csv";
}

/**
 * A file's header and data rows (text, or bytes decoded as UTF-8: `valid`
 * false when some were not). Throws an Error saying what is wrong with the
 * file; callers say what failed.
 */
export function readDelimited(
  input: string | Uint8Array,
  given?: ImportFormat,
): { header: string[]; data: string[][]; format: ImportFormat; valid: boolean } {
  const { text, valid } = typeof input === "string"
    ? { text: input, valid: true }
    : decodeUpload(input);
  const format = given ?? detectFormat(text);
  let records: string[][];
  try {
    records = parseCsv(text, {
      delimiter: format === "tsv" ? "\t" : ",",
      bom: true,
      skip_empty_lines: true,
      relax_quotes: format === "tsv",
      quote: format === "tsv" ? false : '"',
    }) as string[][];
  } catch (error) {
    throw new Error(`the file is not valid ${format.toUpperCase()}: ${(error as Error).message}`);
  }
  if (records.length < 2) throw new Error("the file needs a header row and at least one data row");
  const [header, ...data] = records;
  return { header, data, format, valid };
}
