/**
 * Writing a list's rows: insert, update and delete, each in one transaction
 * with its audit record, every input row checked first.
 */
import { type Kysely, sql } from "kysely";
import type { Actor } from "../core/actor.ts";
import type { Schema } from "../db/mod.ts";
import { badRequest, LabgateError, notFound } from "../errors.ts";
import { Permission } from "../security/permissions.ts";
import type { Services } from "../services.ts";
import { parseValue } from "./column_types.ts";
import { recordFolderChange, requireContainer } from "./containers.ts";
import type { ListDefinition } from "./lists.ts";
import {
  type Column,
  dataError,
  findColumn,
  MAX_ROWS_PER_REQUEST,
  ref,
  refuseWithheld,
  type Row,
  type RowError,
  rowErrors,
  selectList,
  table,
  toRow,
  typeSql,
  visibleColumnsOf,
} from "./rows_columns.ts";

/** Checks input rows against the columns: database texts per column, or every error found. */
export function checkRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  rows: Record<string, unknown>[],
  mode: "insert" | "update",
): { values: Map<Column, string | null>[]; errors: RowError[] } {
  refuseWithheld(
    svc,
    actor,
    def,
    rows.flatMap((r) => typeof r === "object" && r !== null ? Object.keys(r) : []),
    mode === "insert" ? "Insert" : "Update",
  );
  const errors: RowError[] = [];
  const values = rows.map((input, index) => {
    const row = new Map<Column, string | null>();
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      errors.push({ row: index + 1, message: "Each row must be an object of column: value" });
      return row;
    }
    for (const [name, value] of Object.entries(input)) {
      const column = findColumn(def, name);
      if (!column) {
        errors.push({ row: index + 1, column: name, message: `Unknown column "${name}"` });
        continue;
      }
      if (column.column_name === def.list.key_column && def.list.key_auto && mode === "insert") {
        if (value !== null && value !== undefined && value !== "") {
          errors.push({
            row: index + 1,
            column: column.name,
            message: `${column.name} is assigned automatically; leave it out`,
          });
        }
        continue;
      }
      const parsed = parseValue(column.type, value);
      if (!parsed.ok) {
        errors.push({ row: index + 1, column: column.name, message: parsed.error });
        continue;
      }
      row.set(column, parsed.text);
    }
    for (const column of def.columns) {
      const auto = def.list.key_auto && column.column_name === def.list.key_column;
      const isKey = column.column_name === def.list.key_column;
      const missing = row.has(column) ? row.get(column) === null : mode === "insert" || isKey;
      const needed = mode === "insert" ? column.required && !auto : isKey || column.required;
      if (missing && needed && !(mode === "update" && !row.has(column) && !isKey)) {
        errors.push({ row: index + 1, column: column.name, message: `${column.name} is required` });
      }
    }
    return row;
  });
  return { values, errors };
}

/** Inserts checked rows; returns them as stored, with the `shown` columns only. */
export async function insertChecked(
  svc: Services,
  def: ListDefinition,
  values: Map<Column, string | null>[],
  shown: Column[],
  audit: AuditOfWrite,
): Promise<Row[]> {
  const inserted: Row[] = [];
  const columns = def.columns;
  await svc.database.root.transaction().execute(async (trx) => {
    const width = Math.max(columns.length, 1);
    const batchSize = Math.max(1, Math.floor(30_000 / width));
    for (let start = 0; start < values.length; start += batchSize) {
      const batch = values.slice(start, start + batchSize);
      const given = columns.filter((c) => batch.some((row) => row.has(c)));
      const statement = given.length
        ? sql`insert into ${table(def)} (${sql.join(given.map(ref))}) values ${
          sql.join(batch.map((row) =>
            sql`(${
              sql.join(given.map((c) =>
                row.has(c) ? sql`cast(${row.get(c)} as ${sql.raw(typeSql(c))})` : sql`default`
              ))
            })`
          ))
        } returning ${selectList(columns)}`
        : sql`insert into ${table(def)} default values returning ${selectList(columns)}`;
      const { rows } = await statement.execute(trx);
      for (const r of rows as Record<string, string | null>[]) inserted.push(toRow(shown, r));
    }
    await recordWrite(svc, trx, audit, inserted.length);
  });
  return inserted;
}

/** Who wrote which list's rows, and how (the audit event), for the record of the write. */
interface AuditOfWrite {
  actor: Actor;
  def: ListDefinition;
  event: string;
}

/**
 * The audit record of a write to the list's rows, on the write's own
 * transaction: after a crash, every committed write has its record.
 */
async function recordWrite(
  svc: Services,
  trx: Kysely<Schema>,
  { actor, def, event }: AuditOfWrite,
  rows: number,
): Promise<void> {
  await recordFolderChange(svc, trx, actor, def.container, {
    event,
    detail: def.list.name,
    rows,
  });
}

/** After a write to the list's rows commits: counts go, here and on every instance. */
export async function written(svc: Services, def: ListDefinition): Promise<void> {
  await svc.invalidate.publish({ kind: "rows", list: def.list.id });
}

/** Inserts rows in one transaction and returns them as stored. Needs Insert. */
export async function insertRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  rows: Record<string, unknown>[],
): Promise<Row[]> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.INSERT);
  if (!Array.isArray(rows) || rows.length === 0) throw badRequest("No rows to insert");
  if (rows.length > MAX_ROWS_PER_REQUEST) {
    throw badRequest(`At most ${MAX_ROWS_PER_REQUEST} rows per request`);
  }
  const { values, errors } = checkRows(svc, actor, def, rows, "insert");
  if (errors.length) throw rowErrors("Insert", errors);
  let inserted: Row[];
  try {
    inserted = await insertChecked(svc, def, values, visibleColumnsOf(def, actor), {
      actor,
      def,
      event: "rows.insert",
    });
  } catch (error) {
    throw dataError(def, error, "Insert");
  }
  await written(svc, def);
  return inserted;
}

/** Updates rows by key in one transaction; every key must exist. Needs Update. */
export async function updateRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  rows: Record<string, unknown>[],
): Promise<Row[]> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.UPDATE);
  if (!Array.isArray(rows) || rows.length === 0) throw badRequest("No rows to update");
  const { values, errors } = checkRows(svc, actor, def, rows, "update");
  if (errors.length) throw rowErrors("Update", errors);
  const shown = visibleColumnsOf(def, actor);
  const key = def.columns.find((c) => c.column_name === def.list.key_column)!;
  const updated: Row[] = [];
  try {
    await svc.database.root.transaction().execute(async (trx) => {
      for (const [index, row] of values.entries()) {
        const sets = [...row].filter(([c]) => c !== key).map(([c, v]) =>
          sql`${ref(c)} = cast(${v} as ${sql.raw(typeSql(c))})`
        );
        const keyValue = sql`cast(${row.get(key)} as ${sql.raw(typeSql(key))})`;
        const { rows: changed } = sets.length
          ? await sql<Record<string, string | null>>`update ${table(def)} set ${sql.join(sets)}
              where ${ref(key)} = ${keyValue} returning ${selectList(def.columns)}`.execute(trx)
          : await sql<Record<string, string | null>>`select ${selectList(def.columns)}
              from ${table(def)} where ${ref(key)} = ${keyValue}`.execute(trx);
        if (!changed.length) {
          throw rowErrors("Update", [{
            row: index + 1,
            column: key.name,
            message: `no row has ${key.name} = ${row.get(key)}`,
          }]);
        }
        updated.push(toRow(shown, changed[0]));
      }
      await recordWrite(svc, trx, { actor, def, event: "rows.update" }, updated.length);
    });
  } catch (error) {
    if (error instanceof LabgateError) throw error;
    throw dataError(def, error, "Update");
  }
  await written(svc, def);
  return updated;
}

/** Deletes rows by key in one transaction; every key must exist. Needs Delete. */
export async function deleteRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  keys: unknown[],
): Promise<Row[]> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.DELETE);
  if (!Array.isArray(keys) || keys.length === 0) throw badRequest("No rows to delete");
  const key = def.columns.find((c) => c.column_name === def.list.key_column)!;
  const errors: RowError[] = [];
  const texts = keys.map((k, i) => {
    const parsed = parseValue(key.type, k);
    if (!parsed.ok || parsed.text === null) {
      errors.push({
        row: i + 1,
        column: key.name,
        message: parsed.ok ? "key is empty" : parsed.error,
      });
    }
    return parsed.ok ? parsed.text : null;
  });
  if (errors.length) throw rowErrors("Delete", errors);
  const deleted = await svc.database.root.transaction().execute(async (trx) => {
    const { rows } = await sql<Record<string, string | null>>`delete from ${table(def)}
      where ${ref(key)} in (${
      sql.join(texts.map((t) => sql`cast(${t} as ${sql.raw(typeSql(key))})`))
    })
      returning ${selectList(def.columns)}`.execute(trx);
    const found = new Set(rows.map((r) => r[key.column_name]));
    const missing = [...new Set(texts)].filter((t) => !found.has(t as string));
    if (missing.length) {
      throw notFound(
        `Delete failed, nothing was changed: no row has ${key.name} = ${
          missing.slice(0, 10).join(", ")
        }`,
      );
    }
    await recordWrite(svc, trx, { actor, def, event: "rows.delete" }, rows.length);
    return rows.map((r) => toRow(visibleColumnsOf(def, actor), r));
  });
  await written(svc, def);
  return deleted;
}
