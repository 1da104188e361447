/** What every LabKey action shares: the call it is given, its answer, and reading the list it names. */
import type { Actor } from "../../src/core/actor.ts";
import { getList, type ListDefinition } from "../../src/data/lists.ts";
import { badRequest, notFound, unauthorized } from "../../src/errors.ts";
import { LabKeyParams } from "../../src/doors/labkey/request.ts";
import { type ResultField } from "../../src/doors/labkey/responses.ts";
import type { Services } from "../../src/services.ts";
import type { AppContext } from "../http/context.ts";

/** What one call knows: the parsed request and who makes it. */
interface Call {
  c: AppContext;
  svc: Services;
  /** Null only for actions that answer anonymous callers (whoami). */
  actor: Actor | null;
  params: LabKeyParams;
  containerPath: string;
}

export interface Answer {
  body: unknown;
  /** Audit detail (schema.query or SQL) and row count. */
  detail?: string;
  rows?: number;
  containerPath?: string;
}

export type Action = (call: Call) => Promise<Answer>;

export const SCHEMA = "lists";

export function requireSignedIn(call: Call): Actor {
  if (!call.actor) throw unauthorized("Sign in first: send an API key or a session cookie");
  return call.actor;
}

export function requirePost(call: Call): void {
  if (call.c.req.method !== "POST") throw badRequest("This action must be called with POST");
}

export function schemaName(params: LabKeyParams): string {
  const name = params.first("schemaName", "query.schemaName");
  if (!name) throw badRequest("Missing parameter schemaName");
  if (name.toLowerCase() !== SCHEMA) {
    throw notFound(`Schema ${name} does not exist: this server has schema ${SCHEMA}`);
  }
  return SCHEMA;
}

export async function listOf(call: Call): Promise<ListDefinition> {
  schemaName(call.params);
  const queryName = call.params.first("queryName", "query.queryName");
  if (!queryName) throw badRequest("Missing parameter queryName");
  return await getList(call.svc, requireSignedIn(call), call.containerPath, queryName);
}

/** Fields of `columns` (by default all of `def`'s: callers showing them pass the visible ones). */
export function listFields(def: ListDefinition, columns = def.columns): ResultField[] {
  return columns.map((c) => {
    const isKey = c.column_name === def.list.key_column;
    return {
      name: c.name,
      type: c.type,
      isKey,
      autoIncrement: isKey && def.list.key_auto,
      required: c.required,
      description: c.description,
    };
  });
}

export function keyName(def: ListDefinition): string {
  return def.columns.find((c) => c.column_name === def.list.key_column)!.name;
}

export function rowsArray(call: Call): Record<string, unknown>[] {
  const rows = call.params.getAll("rows");
  if (!rows.length) throw badRequest("Send the rows as a JSON body: {schemaName, queryName, rows}");
  return rows as Record<string, unknown>[];
}
