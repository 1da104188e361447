/**
 * Changing a list's design after it holds rows: add, rename or drop a
 * column, change descriptions or a column's PHI level. Each change is previewed first — what it does
 * to the rows and to the scripts and SQL-door queries that name the column —
 * and applied in one transaction (table and definition together), audited,
 * with every instance told to drop its cached definition.
 */
import { sql } from "kysely";
import type { Actor } from "../core/actor.ts";
import { badRequest, conflict } from "../errors.ts";
import { Permission } from "../security/permissions.ts";
import type { Services } from "../services.ts";
import { COLUMN_TYPES, type ColumnTypeName, isColumnType } from "./column_types.ts";
import { recordFolderChange, requireContainer } from "./containers.ts";
import { getListById, type ListColumnInput, type ListDefinition } from "./lists.ts";
import { physicalName } from "./physical.ts";
import { parseColumnPhiLevel, PHI_LEVEL_LABELS } from "../security/phi.ts";

export type DesignChange =
  | { kind: "add"; column: ListColumnInput }
  | { kind: "rename"; column: string; to: string }
  | { kind: "drop"; column: string }
  | { kind: "describe"; column?: string; description: string }
  | { kind: "phi"; column: string; phi: string };

export interface DesignPreview {
  /** One sentence per effect, for the confirmation page and the API. */
  effects: string[];
  /** Rows whose value in the column is lost (drop). */
  valuesLost: number;
  rows: number;
}

function columnOf(def: ListDefinition, name: string) {
  const column = def.columns.find((c) => c.name.toLowerCase() === name.trim().toLowerCase());
  if (!column) {
    throw badRequest(
      `Column "${name}" is not in ${def.list.name} (it has: ${
        def.columns.map((c) => c.name).join(", ")
      })`,
    );
  }
  return column;
}

function isKey(def: ListDefinition, column: { column_name: string }): boolean {
  return column.column_name === def.list.key_column;
}

/** A new column name: valid, and not one the list has (names ignore case). */
function newColumnName(def: ListDefinition, name: string): string {
  const physical = physicalName(name.trim(), "column");
  if (physical instanceof Error) throw badRequest(physical.message);
  if (def.columns.some((c) => c.column_name === physical)) {
    throw conflict(`${def.list.name} already has a column "${name.trim()}" (names ignore case)`);
  }
  return physical;
}

async function count(svc: Services, def: ListDefinition, where = sql``): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n
    from ${sql.raw(def.qualifiedTable)} ${where}`.execute(svc.database.root);
  return rows[0].n;
}

/** What `change` would do, without doing it; refuses what cannot be done, as apply would. */
export async function previewDesignChange(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  change: DesignChange,
): Promise<DesignPreview> {
  await requireContainer(svc, actor, { id: def.container.id }, Permission.ADMIN);
  const rows = await count(svc, def);
  const scripts =
    "scripts, saved SQL-door queries and reports that name it must change (the audit log keeps the old name)";
  switch (change.kind) {
    case "add": {
      newColumnName(def, change.column.name ?? "");
      if (!isColumnType(change.column.type)) {
        throw badRequest(
          `Column "${change.column.name}" has unknown type "${change.column.type}": use one of ${
            Object.keys(COLUMN_TYPES).join(", ")
          }`,
        );
      }
      parseColumnPhiLevel(change.column.phi, change.column.name);
      if (change.column.required && rows > 0) {
        throw badRequest(
          `A required column cannot be added to a list with rows (${rows} would have no value): add it optional, fill it, then make it required`,
        );
      }
      return {
        effects: [
          `Adds the ${change.column.type} column ${change.column.name.trim()}${
            rows ? `; the ${rows} existing row${rows === 1 ? "" : "s"} get no value in it` : ""
          }.`,
        ],
        valuesLost: 0,
        rows,
      };
    }
    case "rename": {
      const column = columnOf(def, change.column);
      if (column.name.toLowerCase() !== change.to.trim().toLowerCase()) {
        newColumnName(def, change.to);
      } else physicalName(change.to.trim(), "column");
      return {
        effects: [`Renames ${column.name} to ${change.to.trim()}; its values stay; ${scripts}.`],
        valuesLost: 0,
        rows,
      };
    }
    case "drop": {
      const column = columnOf(def, change.column);
      if (isKey(def, column)) throw badRequest(`${column.name} is the key: it cannot be dropped`);
      if (def.columns.length === 1) throw badRequest("A list keeps at least one column");
      const lost = await count(
        svc,
        def,
        sql`where ${sql.ref(column.column_name)} is not null`,
      );
      return {
        effects: [
          `Drops ${column.name} and its ${lost} value${
            lost === 1 ? "" : "s"
          } (of ${rows} rows): they cannot be recovered; ${scripts}.`,
        ],
        valuesLost: lost,
        rows,
      };
    }
    case "describe": {
      const what = change.column ? `column ${columnOf(def, change.column).name}` : "the list";
      if (change.description.length > 2000) {
        throw badRequest("A description has at most 2000 characters");
      }
      return { effects: [`Sets the description of ${what}.`], valuesLost: 0, rows };
    }
    case "phi": {
      const column = columnOf(def, change.column);
      const phi = parseColumnPhiLevel(change.phi, column.name);
      if (isKey(def, column) && phi !== "not_phi") {
        throw badRequest(
          `${column.name} is the key: it identifies rows on every door and stays not_phi`,
        );
      }
      const from = PHI_LEVEL_LABELS[column.phi as keyof typeof PHI_LEVEL_LABELS] ?? column.phi;
      return {
        effects: [
          `Sets the PHI level of ${column.name} from ${from} to ${PHI_LEVEL_LABELS[phi]}: ${
            phi === "restricted"
              ? "no request sees it, through any door"
              : `requests whose PHI level in force is below ${phi} no longer see it, on every door`
          }; its values stay.`,
        ],
        valuesLost: 0,
        rows,
      };
    }
  }
}

/** Applies `change` (after the same checks as the preview); returns the new definition. */
export async function applyDesignChange(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  change: DesignChange,
): Promise<{ def: ListDefinition; preview: DesignPreview }> {
  const preview = await previewDesignChange(svc, actor, def, change);
  const table = sql.raw(def.qualifiedTable);
  const listId = def.list.id;
  await svc.database.root.transaction().execute(async (trx) => {
    const app = trx.withSchema("lg_app");
    switch (change.kind) {
      case "add": {
        const name = change.column.name.trim();
        const physical = newColumnName(def, name);
        const type = COLUMN_TYPES[change.column.type as ColumnTypeName].sql;
        await sql`alter table ${table} add column ${sql.ref(physical)} ${sql.raw(type)}${
          sql.raw(change.column.required ? " not null" : "")
        }`.execute(trx);
        const position = Math.max(...def.columns.map((c) => c.position)) + 1;
        await app.insertInto("list_columns").values({
          list_id: listId,
          position,
          name,
          column_name: physical,
          type: change.column.type,
          required: change.column.required ?? false,
          description: change.column.description ?? "",
          phi: parseColumnPhiLevel(change.column.phi, name),
        }).execute();
        break;
      }
      case "rename": {
        const column = columnOf(def, change.column);
        const name = change.to.trim();
        const physical = name.toLowerCase();
        if (physical !== column.column_name) {
          await sql`alter table ${table} rename column ${sql.ref(column.column_name)} to ${
            sql.ref(physical)
          }`.execute(trx);
        }
        await app.updateTable("list_columns").set({ name, column_name: physical })
          .where("list_id", "=", listId).where("column_name", "=", column.column_name).execute();
        if (isKey(def, column)) {
          await app.updateTable("lists").set({ key_column: physical }).where("id", "=", listId)
            .execute();
        }
        break;
      }
      case "drop": {
        const column = columnOf(def, change.column);
        await sql`alter table ${table} drop column ${sql.ref(column.column_name)}`.execute(trx);
        await app.deleteFrom("list_columns").where("list_id", "=", listId)
          .where("column_name", "=", column.column_name).execute();
        break;
      }
      case "phi": {
        const column = columnOf(def, change.column);
        await app.updateTable("list_columns").set({ phi: change.phi })
          .where("list_id", "=", listId).where("column_name", "=", column.column_name).execute();
        break;
      }
      case "describe": {
        if (change.column) {
          const column = columnOf(def, change.column);
          await app.updateTable("list_columns").set({ description: change.description })
            .where("list_id", "=", listId).where("column_name", "=", column.column_name).execute();
          await sql`comment on column ${
            sql.raw(`${def.qualifiedTable}.${column.column_name}`)
          } is ${sql.lit(change.description)}`.execute(trx);
        } else {
          await app.updateTable("lists").set({ description: change.description })
            .where("id", "=", listId).execute();
          await sql`comment on table ${table} is ${sql.lit(change.description)}`.execute(trx);
        }
      }
    }
    // On the change's own transaction: a crash cannot keep the change and lose its record.
    await recordFolderChange(svc, trx, actor, def.container, {
      event: "list.design",
      detail: JSON.stringify({ list: def.list.name, change }),
      rows: preview.valuesLost || null,
    });
  });
  // Definitions and SQL-door folder scopes are cached per instance: every instance drops them now.
  await svc.invalidate.publish({ kind: "lists" });
  return { def: await getListById(svc, actor, listId), preview };
}
