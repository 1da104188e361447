/**
 * Lists: typed tables in a folder, each stored as a real table
 * `lg_c<folder>.<name>` so SQL from tools runs in the database engine.
 */
import { actorBits } from "../core/in_flight.ts";
import { sql } from "kysely";
import type { Actor } from "../core/actor.ts";
import type { Container, List, ListColumn } from "../db/schema.ts";
import { badRequest, conflict, notFound } from "../errors.ts";
import { hasPermission, Permission } from "../security/permissions.ts";
import { type ColumnPhiLevel, parseColumnPhiLevel, type SqlColumn } from "../security/phi.ts";
import type { Services } from "../services.ts";
import { COLUMN_TYPES, type ColumnTypeName, isColumnType } from "./column_types.ts";
import { ensureFolderSchema, recordFolderChange, requireContainer } from "./containers.ts";
import { folderRole, folderSchema, physicalName } from "./physical.ts";

export interface ListColumnInput {
  name: string;
  type: string;
  required?: boolean;
  description?: string;
  /** Who may see the column (src/security/phi.ts); default `not_phi`. */
  phi?: string;
}

interface ListInput {
  name: string;
  description?: string;
  columns: ListColumnInput[];
  /** The key column: one of `columns`, or (with `autoKey`) a new integer column. */
  key: string;
  /** The database numbers rows itself in a new Integer column named `key`. */
  autoKey?: boolean;
}

/** A list with its folder and columns: everything row operations need. */
export interface ListDefinition {
  list: List;
  container: Container;
  columns: (ListColumn & { type: ColumnTypeName; phi: ColumnPhiLevel })[];
  /** `lg_c<folder>.<table>`, for queries. */
  qualifiedTable: string;
}

export const MAX_COLUMNS = 500;

export async function createList(
  svc: Services,
  actor: Actor,
  folderPath: string,
  input: ListInput,
): Promise<ListDefinition> {
  const { container } = await requireContainer(svc, actor, { path: folderPath }, Permission.ADMIN);
  const name = input.name?.trim() ?? "";
  const tableName = physicalName(name, "list");
  if (tableName instanceof Error) throw badRequest(tableName.message);
  const columns = input.autoKey
    ? [{ name: input.key, type: "Integer", required: true }, ...input.columns]
    : input.columns;
  if (!Array.isArray(input.columns) || columns.length === 0) {
    throw badRequest("A list needs at least one column");
  }
  if (columns.length > MAX_COLUMNS) {
    throw badRequest(`A list can have at most ${MAX_COLUMNS} columns`);
  }
  const seen = new Map<string, string>();
  const checked = columns.map((c, i) => {
    const columnName = physicalName(c.name?.trim() ?? "", "column");
    if (columnName instanceof Error) throw badRequest(columnName.message);
    if (seen.has(columnName)) {
      throw badRequest(`Column "${c.name}" appears twice (names ignore case)`);
    }
    seen.set(columnName, c.name);
    if (!isColumnType(c.type)) {
      throw badRequest(
        `Column "${c.name}" has unknown type "${c.type}": use one of ${
          Object.keys(COLUMN_TYPES).join(", ")
        }`,
      );
    }
    return {
      position: i,
      name: c.name.trim(),
      column_name: columnName,
      type: c.type,
      required: c.required ?? false,
      description: c.description ?? "",
      phi: parseColumnPhiLevel(c.phi, c.name),
    };
  });
  const keyName = physicalName(input.key?.trim() ?? "", "column");
  if (keyName instanceof Error) throw badRequest(`Key: ${keyName.message}`);
  const key = checked.find((c) => c.column_name === keyName);
  if (!key) throw badRequest(`Key column "${input.key}" is not one of the list's columns`);
  if (input.autoKey && input.columns.some((c) => c.name?.trim().toLowerCase() === keyName)) {
    throw badRequest(`Key column "${input.key}" is added automatically; do not list it in columns`);
  }
  if (!COLUMN_TYPES[key.type as ColumnTypeName].keyable) {
    throw badRequest(`A ${key.type} column cannot be a key: use Integer, BigInteger, Text or UUID`);
  }
  if (key.phi !== "not_phi") {
    throw badRequest(
      `The key ${key.name} identifies rows on every door, so it is not_phi: key the list by a study id and keep ${key.name} as another column`,
    );
  }
  key.required = true;
  const existing = await svc.db.selectFrom("lists").select("id")
    .where("container_id", "=", container.id).where("table_name", "=", tableName)
    .executeTakeFirst();
  if (existing) throw conflict(`A list named ${name} already exists in ${container.path}`);
  // The table's row type would share the built-in type's name, and PostgreSQL
  // prints a type it cannot find by name schema-qualified (`lg_c5.date`),
  // which the SQL door must never show.
  const builtin = await sql<{ n: number }>`select count(*)::int as n from pg_catalog.pg_type
    where typnamespace = 'pg_catalog'::regnamespace and typname = ${tableName}`.execute(svc.db);
  if (builtin.rows[0].n > 0) {
    throw badRequest(`"${name}" is the name of a built-in SQL type: choose another list name`);
  }

  const schema = folderSchema(container.id);
  const role = folderRole(svc.database.installId, container.id);
  const definitions = checked.map((c) => {
    const type = COLUMN_TYPES[c.type as ColumnTypeName].sql;
    if (c === key) {
      return input.autoKey
        ? `${c.column_name} integer generated by default as identity primary key`
        : `${c.column_name} ${type} primary key`;
    }
    return `${c.column_name} ${type}${c.required ? " not null" : ""}`;
  });
  const list = await svc.database.root.transaction().execute(async (trx) => {
    await ensureFolderSchema(svc, trx, container.id);
    const list = await trx.withSchema("lg_app").insertInto("lists").values({
      container_id: container.id,
      name,
      table_name: tableName,
      key_column: key.column_name,
      key_auto: input.autoKey ?? false,
      description: input.description ?? "",
      created_by: actor.userId,
    }).returningAll().executeTakeFirstOrThrow();
    await trx.withSchema("lg_app").insertInto("list_columns")
      .values(checked.map((c) => ({ ...c, list_id: list.id }))).execute();
    await sql.raw(`create table ${schema}.${tableName} (${definitions.join(", ")})`).execute(trx);
    await sql.raw(`grant select on ${schema}.${tableName} to ${role}`).execute(trx);
    if (input.description) {
      await sql`comment on table ${sql.raw(`${schema}.${tableName}`)} is ${
        sql.lit(input.description)
      }`.execute(trx);
    }
    for (const c of checked.filter((c) => c.description)) {
      await sql`comment on column ${sql.raw(`${schema}.${tableName}.${c.column_name}`)} is ${
        sql.lit(c.description)
      }`.execute(trx);
    }
    // On the change's own transaction: a crash cannot keep the list and lose its record.
    await recordFolderChange(svc, trx, actor, container, {
      event: "list.create",
      detail: JSON.stringify({
        list: name,
        columns: checked.map((c) => `${c.name}:${c.type}${c.phi === "not_phi" ? "" : `:${c.phi}`}`),
      }),
    });
    return list;
  });
  // Open SQL-door connections look again at what they may read (PHI levels), and
  // what new ones are told of the folder's lists is read afresh (folderScope()).
  await svc.invalidate.publish({ kind: "lists" });
  return await loadDefinition(svc, container, list);
}

async function loadDefinition(
  svc: Services,
  container: Container,
  list: List,
): Promise<ListDefinition> {
  const columns = await svc.db.selectFrom("list_columns").selectAll()
    .where("list_id", "=", list.id).orderBy("position").execute();
  return {
    list,
    container,
    columns: columns as ListDefinition["columns"],
    qualifiedTable: `${folderSchema(container.id)}.${list.table_name}`,
  };
}

const generations = new WeakMap<Services, { value: number }>();

/**
 * Goes up with every list created, dropped or redesigned on any instance
 * (the `lists` event), and when events may have been missed: caches of what
 * a folder's lists are key on it, as others key on the permission epoch.
 */
export function listsGeneration(svc: Services): number {
  let generation = generations.get(svc);
  if (!generation) {
    const created = { value: 0 };
    svc.invalidate.subscribe((event) => {
      if (event.kind === "lists" || event.kind === "all") created.value++;
    });
    generations.set(svc, generation = created);
  }
  return generation.value;
}

/** How long a cached definition is kept (a bound if an instance misses a notification). */
const DEFINITION_CACHE_MS = 1_000;

interface CachedDefinition {
  def: ListDefinition;
  at: number;
  epoch: number;
}

const definitions = new WeakMap<Services, Map<string, CachedDefinition>>();

function definitionCache(svc: Services): Map<string, CachedDefinition> {
  let cache = definitions.get(svc);
  if (!cache) {
    const created = new Map<string, CachedDefinition>();
    // A list dropped on any instance; folder and role changes bump the permission epoch.
    svc.invalidate.subscribe((event) => {
      if (event.kind === "lists" || event.kind === "all") created.clear();
    });
    definitions.set(svc, cache = created);
  }
  return cache;
}

/**
 * A list by folder and name (any case); needs Read on the folder. The
 * definition is kept for a second (dropped at once by any folder, role or
 * list change on any instance); the permission is checked on every call.
 */
export async function getList(
  svc: Services,
  actor: Actor | null,
  folderPath: string,
  name: string,
): Promise<ListDefinition> {
  const key = `${folderPath.toLowerCase()}\n${name.toLowerCase()}`;
  const cache = definitionCache(svc);
  const cached = cache.get(key);
  if (
    cached && cached.epoch === svc.permissions.epoch &&
    performance.now() - cached.at < DEFINITION_CACHE_MS
  ) {
    const bits = await actorBits(svc, actor, cached.def.container.id);
    if (!hasPermission(bits, Permission.READ)) {
      throw notFound(`Folder ${folderPath} does not exist or you cannot read it`);
    }
    return cached.def;
  }
  const epoch = svc.permissions.epoch;
  const { container } = await requireContainer(svc, actor, { path: folderPath });
  const list = await svc.db.selectFrom("lists").selectAll()
    .where("container_id", "=", container.id)
    .where("table_name", "=", name.toLowerCase()).executeTakeFirst();
  if (!list) throw notFound(`List ${name} does not exist in ${container.path}`);
  const def = await loadDefinition(svc, container, list);
  if (cache.size >= 10_000) cache.clear();
  cache.set(key, { def, at: performance.now(), epoch });
  return def;
}

/** A list by id; needs Read on its folder. */
export async function getListById(
  svc: Services,
  actor: Actor | null,
  id: number,
): Promise<ListDefinition> {
  const list = await svc.db.selectFrom("lists").selectAll().where("id", "=", id)
    .executeTakeFirst();
  const bits = list ? await actorBits(svc, actor, list.container_id) : 0;
  if (!list || !(bits & Permission.READ)) throw notFound(`List #${id} does not exist`);
  const { container } = await requireContainer(svc, actor, { id: list.container_id });
  return await loadDefinition(svc, container, list);
}

interface ListSummary {
  id: number;
  name: string;
  description: string;
  keyColumn: string;
  columns: number;
}

export async function listLists(
  svc: Services,
  actor: Actor | null,
  folderPath: string,
): Promise<{ container: Container; lists: ListSummary[] }> {
  const { container } = await requireContainer(svc, actor, { path: folderPath });
  const lists = await svc.db.selectFrom("lists as l")
    .leftJoin("list_columns as c", "c.list_id", "l.id")
    .select((eb) => [
      "l.id",
      "l.name",
      "l.description",
      "l.key_column",
      eb.fn.count<number>("c.column_name").as("columns"),
    ])
    .where("l.container_id", "=", container.id)
    .groupBy(["l.id", "l.name", "l.description", "l.key_column"])
    .orderBy("l.name").execute();
  return {
    container,
    lists: lists.map((l) => ({
      id: l.id,
      name: l.name,
      description: l.description,
      keyColumn: l.key_column,
      columns: Number(l.columns),
    })),
  };
}

/** Whether the folder has a list yet (its schema and role come with the first). */
export async function folderHasLists(svc: Services, containerId: number): Promise<boolean> {
  const list = await svc.db.selectFrom("lists").select("id")
    .where("container_id", "=", containerId).limit(1).executeTakeFirst();
  return list !== undefined;
}

/** A list column in PostgreSQL's catalog: its table's OID and its number there (pg_attribute). */
interface CatalogPlace {
  relation: number;
  attnum: number;
}

/**
 * The folder's list columns defined with capitals (`SampleId`, stored as
 * `sampleid`), by table OID and column number: what the SQL sandbox shows as
 * defined. No permission check: for the SQL door, which has made its own.
 */
export async function capitalizedColumns(
  svc: Services,
  containerId: number,
): Promise<(CatalogPlace & { table: string; name: string })[]> {
  const { rows } = await sql<CatalogPlace & { table: string; name: string }>`
    select c.oid::int as relation, a.attnum::int as attnum, l.table_name as table, lc.name
    from lg_app.lists l
    join lg_app.list_columns lc on lc.list_id = l.id and lc.name <> lc.column_name
    join pg_catalog.pg_class c on c.relname = l.table_name
      and c.relnamespace = ${folderSchema(containerId)}::regnamespace
    join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = lc.column_name
    where l.container_id = ${containerId}`.execute(svc.database.root);
  return rows;
}

/**
 * The physical columns of the folder's lists that have a PHI column, by table
 * and then in the table's order, each with its list's name and level for it
 * (`restricted` where no list column names it) and its catalog place: what
 * src/security/phi.ts sqlTableRules takes. No permission check, as above.
 */
export async function phiListColumns(
  svc: Services,
  containerId: number,
): Promise<(SqlColumn & CatalogPlace)[]> {
  const { rows } = await sql<SqlColumn & CatalogPlace>`
    select l.table_name as table, a.attname as column, coalesce(lc.name, a.attname) as name,
      coalesce(lc.phi, 'restricted') as phi, c.oid::int as relation, a.attnum::int as attnum
    from lg_app.lists l
    join pg_catalog.pg_class c on c.relname = l.table_name
      and c.relnamespace = ${folderSchema(containerId)}::regnamespace
    join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    left join lg_app.list_columns lc on lc.list_id = l.id and lc.column_name = a.attname
    where l.container_id = ${containerId} and exists (select 1 from lg_app.list_columns p
      where p.list_id = l.id and p.phi <> 'not_phi')
    order by l.table_name, a.attnum`.execute(svc.database.root);
  return rows;
}

/** Drops a list and its rows; needs Admin on the folder. */
export async function deleteList(
  svc: Services,
  actor: Actor,
  folderPath: string,
  name: string,
): Promise<void> {
  const def = await getList(svc, actor, folderPath, name);
  await requireContainer(svc, actor, { id: def.container.id }, Permission.ADMIN);
  await svc.database.root.transaction().execute(async (trx) => {
    await sql.raw(`drop table if exists ${def.qualifiedTable}`).execute(trx);
    await trx.withSchema("lg_app").deleteFrom("lists").where("id", "=", def.list.id).execute();
    await recordFolderChange(svc, trx, actor, def.container, {
      event: "list.delete",
      detail: def.list.name,
    });
  });
  await svc.invalidate.publish({ kind: "lists" });
}
