/**
 * CSV/TSV import into a list: every row is checked first, and either every
 * row is loaded or nothing changes.
 */
import type { Actor } from "../core/actor.ts";
import { badRequest, LabgateError } from "../errors.ts";
import { Permission } from "../security/permissions.ts";
import type { Services } from "../services.ts";
import { requireContainer } from "./containers.ts";
import { type ImportFormat, pauser, readDelimited, REPLACEMENT } from "./csv.ts";
import type { ListDefinition } from "./lists.ts";
import {
  type Column,
  dataError,
  findColumn,
  refuseWithheld,
  type RowError,
  rowErrors,
  visibleColumnsOf,
} from "./rows_columns.ts";
import { checkRows, insertChecked, written } from "./rows_write.ts";

/** Rows checked between pauses: an import of a million rows keeps nobody waiting. */
const CHECK_BATCH = 5000;

/** checkRows() for an import's cells, a batch at a time with pauses between. */
async function checkImported(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  header: string[],
  data: string[][],
): Promise<ReturnType<typeof checkRows>> {
  const values: Map<Column, string | null>[] = [];
  const errors: RowError[] = [];
  const pause = pauser();
  for (let from = 0; from < data.length; from += CHECK_BATCH) {
    const objects = data.slice(from, from + CHECK_BATCH).map((cells) =>
      Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ""]))
    );
    const checked = checkRows(svc, actor, def, objects, "insert");
    for (const row of checked.values) values.push(row);
    for (const error of checked.errors) errors.push({ ...error, row: error.row + from });
    await pause();
  }
  return { values, errors };
}

const NOT_UTF8 = "is not valid UTF-8: save the file as UTF-8 and import it again";

/** Where an upload had bytes that were not UTF-8 (now U+FFFD): row errors, or one for the file. */
function notUtf8(header: string[], data: string[][]): LabgateError {
  const errors: RowError[] = [];
  data.forEach((cells, r) =>
    cells.forEach((cell, i) => {
      if (cell.includes(REPLACEMENT)) {
        errors.push({
          row: r + 1,
          column: header[i] ?? `${i + 1}`,
          message: `the text ${NOT_UTF8}`,
        });
      }
    })
  );
  if (errors.length && !header.some((h) => h.includes(REPLACEMENT))) {
    return rowErrors("Import", errors);
  }
  const where = header.some((h) => h.includes(REPLACEMENT)) ? "the header row" : "the file";
  return badRequest(`Import failed, nothing was changed: ${where} ${NOT_UTF8}`);
}

/**
 * Imports CSV/TSV text (header row of column names, then data rows). Every
 * row is checked first; if any is bad, or the database refuses one, nothing
 * is imported and every error found is reported with its row number.
 */
export async function importRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  input: { text: string | Uint8Array; format?: ImportFormat },
): Promise<{ inserted: number }> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.INSERT);
  let file: Awaited<ReturnType<typeof readDelimited>>;
  try {
    file = await readDelimited(input.text, {
      format: input.format,
      limits: svc.config.importLimits,
    });
  } catch (error) {
    if (error instanceof LabgateError) throw error;
    throw badRequest(`Import failed, nothing was changed: ${(error as Error).message}`);
  }
  const { header, data, valid } = file;
  if (!valid) throw notUtf8(header, data);
  refuseWithheld(svc, actor, def, header, "Import");
  const unknown = header.filter((h) => !findColumn(def, h));
  if (unknown.length) {
    throw badRequest(
      `Import failed, nothing was changed: unknown column${unknown.length > 1 ? "s" : ""} ${
        unknown.map((u) => `"${u}"`).join(", ")
      } (the list has: ${visibleColumnsOf(def, actor).map((c) => c.name).join(", ")})`,
    );
  }
  const { values, errors } = await checkImported(svc, actor, def, header, data);
  const key = def.columns.find((c) => c.column_name === def.list.key_column)!;
  if (!def.list.key_auto) {
    const firstSeen = new Map<string | null, number>();
    values.forEach((row, i) => {
      const k = row.get(key) ?? null;
      if (k === null) return;
      const earlier = firstSeen.get(k);
      if (earlier !== undefined) {
        errors.push({
          row: i + 1,
          column: key.name,
          message: `duplicate key ${k} (also on row ${earlier})`,
        });
      } else firstSeen.set(k, i + 1);
    });
  }
  if (errors.length) {
    errors.sort((a, b) => a.row - b.row);
    throw rowErrors("Import", errors);
  }
  try {
    await insertChecked(svc, def, values, [], { actor, def, event: "rows.import" });
  } catch (error) {
    throw dataError(def, error, "Import");
  }
  await written(svc, def);
  return { inserted: values.length };
}
