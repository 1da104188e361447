/**
 * CSV on the way in and out. Export neutralizes cells a spreadsheet would
 * run as a formula (`=HYPERLINK(…)`, `@SUM(…)`, `+cmd|…`): such a cell gets a
 * leading `'`, which spreadsheets show as text — unless the caller asks for
 * the values as they are (machine-to-machine exports). Import refuses bytes
 * that are not UTF-8 rather than silently replacing them.
 */
import { parse as parseCsv } from "csv-parse/sync";
import { type ImportLimits, shownBytes } from "../config.ts";
import { badRequest, LabgateError } from "../errors.ts";
import type { JsonValue } from "./column_types.ts";
import { MAX_COLUMNS } from "./lists.ts";

/** What `?formulas=` may say on an export: `neutralize` (the default) or `keep`. */
export type FormulaHandling = "neutralize" | "keep";

/** Characters at the start of a cell that spreadsheets read as a formula or a command. */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A plain number, which stays as it is (`-5` is no formula). */
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** CSV, or TSV (tab-separated; cells holding a tab, quote or line break are quoted as in CSV). */
export type ExportFormat = "csv" | "tsv";

interface ExportOptions {
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
function decodeUpload(bytes: Uint8Array): { text: string; valid: boolean } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes), valid: true };
  } catch {
    return { text: new TextDecoder("utf-8").decode(bytes), valid: false };
  }
}

export type ImportFormat = "csv" | "tsv";

/** Guesses the delimiter from the header line. */
function detectFormat(header: string): ImportFormat {
  return header.split("\t").length > header.split(",").length ? "tsv" : "csv";
}

/** Text parsed at once between pauses: some milliseconds of work. */
const PIECE_CHARS = 256 * 1024;

/**
 * Where a record ends (after its line break) for a run of records starting
 * at `from`: the first such end past `atLeast`, or -1 when none comes
 * before `limit`. A line break inside quotes is part of a cell: it ends a
 * record only after an even number of quotes (`""` in a quoted cell counts
 * twice), which holds for any valid CSV.
 */
function recordEnd(
  text: string,
  from: number,
  options: { atLeast?: number; limit?: number; quoted: boolean },
): number {
  const { atLeast = from, limit = text.length, quoted } = options;
  let quotes = 0;
  for (let at = from;;) {
    const newline = text.indexOf("\n", at);
    if (newline < 0 || newline >= limit) return -1;
    if (quoted) {
      for (let q = text.indexOf('"', at); q >= 0 && q < newline; q = text.indexOf('"', q + 1)) {
        quotes++;
      }
    }
    if (quotes % 2 === 0 && newline >= atLeast) return newline + 1;
    at = newline + 1;
  }
}

/** Lines in `text` before `end`. */
function countLines(text: string, from: number, end: number): number {
  let lines = 0;
  for (let at = text.indexOf("\n", from); at >= 0 && at < end; at = text.indexOf("\n", at + 1)) {
    lines++;
  }
  return lines;
}

/** Lets timers and I/O run when the work since the last pause took more than a few milliseconds. */
export function pauser(everyMs = 10): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    if (performance.now() - last < everyMs) return;
    return new Promise((resolve) =>
      setTimeout(() => {
        last = performance.now();
        resolve();
      }, 0)
    );
  };
}

function tooLarge(what: string, setting: string): LabgateError {
  return new LabgateError(
    413,
    `Import refused, nothing was changed: ${what} (${setting}); split the file and import the parts`,
  );
}

/**
 * A file's header and data rows (text, or bytes decoded as UTF-8: `valid`
 * false when some were not), within `limits`. The header is bounded before
 * it is parsed, and the rows are parsed a piece at a time with pauses in
 * between, so a large file never keeps other requests waiting. Throws a
 * LabgateError (413, 400) for a limit, else an Error saying what is wrong
 * with the file; callers say what failed.
 */
export async function readDelimited(
  input: string | Uint8Array,
  options: { format?: ImportFormat; limits: ImportLimits },
): Promise<{ header: string[]; data: string[][]; format: ImportFormat; valid: boolean }> {
  const { maxBytes, maxRows, maxHeaderBytes } = options.limits;
  const bytes = typeof input === "string"
    ? (input.length * 3 > maxBytes ? new TextEncoder().encode(input).length : input.length)
    : input.length;
  if (bytes > maxBytes) {
    throw tooLarge(
      `the file is ${shownBytes(bytes)}, more than the ${shownBytes(maxBytes)} one import may be`,
      "LABGATE_IMPORT_MAX_BYTES",
    );
  }
  const decoded = typeof input === "string" ? { text: input, valid: true } : decodeUpload(input);
  const { valid } = decoded;
  // Old Mac files end lines with CR alone: pieces are cut at line feeds.
  const text = decoded.text.includes("\n") ? decoded.text : decoded.text.replaceAll("\r", "\n");
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  // Blank lines before the header are skipped, as blank lines anywhere are.
  while (text[start] === "\n" || text[start] === "\r") start++;
  const headerLimit = Math.min(text.length, start + maxHeaderBytes + 2);
  // Quotes are not known before the format is: a header with a quoted line break is rare.
  const firstLine = text.indexOf("\n", start);
  const firstEnd = firstLine < 0 ? text.length : firstLine + 1;
  const format = options.format ?? detectFormat(text.slice(start, Math.min(firstEnd, headerLimit)));
  const quoted = format === "csv";
  let headerEnd = recordEnd(text, start, { limit: headerLimit, quoted });
  if (headerEnd < 0 && headerLimit === text.length) headerEnd = text.length;
  if (
    headerEnd < 0 ||
    new TextEncoder().encode(text.slice(start, headerEnd)).length > maxHeaderBytes + 2
  ) {
    throw badRequest(
      `Import refused, nothing was changed: the header row is longer than ${
        shownBytes(maxHeaderBytes)
      } (LABGATE_IMPORT_HEADER_BYTES): the first line names the columns, one per cell`,
    );
  }
  const parserOptions = {
    delimiter: format === "tsv" ? "\t" : ",",
    skip_empty_lines: true,
    relax_quotes: format === "tsv",
    quote: format === "tsv" ? false : '"',
  } as const;
  const parsePiece = (from: number, end: number, line: number): string[][] => {
    try {
      return parseCsv(text.slice(from, end), parserOptions) as string[][];
    } catch (error) {
      // Each piece counts lines from 1: the message names the line in the file.
      const message = (error as Error).message.replace(
        /\bline (\d+)/g,
        (_, n) => `line ${Number(n) + line - 1}`,
      );
      throw new Error(`the file is not valid ${format.toUpperCase()}: ${message}`);
    }
  };
  const [header] = parsePiece(start, headerEnd, 1);
  if (!header) throw new Error("the file needs a header row and at least one data row");
  if (header.length > MAX_COLUMNS) {
    throw badRequest(
      `Import refused, nothing was changed: the header names ${header.length} columns, ` +
        `more than the ${MAX_COLUMNS} a list may have`,
    );
  }
  const data: string[][] = [];
  const pause = pauser();
  let line = 1 + countLines(text, start, headerEnd);
  for (let from = headerEnd; from < text.length;) {
    const found = recordEnd(text, from, { atLeast: from + PIECE_CHARS, quoted });
    const end = found < 0 ? text.length : found;
    const records = parsePiece(from, end, line);
    const ragged = records.find((record) => record.length !== header.length);
    if (ragged) {
      throw new Error(
        `the file is not valid ${format.toUpperCase()}: Invalid Record Length: expect ${header.length}, ` +
          `got ${ragged.length} near line ${line}`,
      );
    }
    for (const record of records) data.push(record);
    if (data.length > maxRows) {
      throw tooLarge(
        `the file has more than the ${maxRows} rows one import may have`,
        "LABGATE_IMPORT_MAX_ROWS",
      );
    }
    line += countLines(text, from, end);
    from = end;
    await pause();
  }
  if (!data.length) throw new Error("the file needs a header row and at least one data row");
  return { header, data, format, valid };
}
