/** /api/folders/{id}/lists and /api/lists/{id}: list definitions (each a real table). */
import type { OpenAPIHono } from "@hono/zod-openapi";
import {
  createList,
  deleteList,
  getListById,
  type ListDefinition,
  listLists,
} from "../../src/data/lists.ts";
import { applyDesignChange, previewDesignChange } from "../../src/data/list_design.ts";
import { type AppContext, type Env, requireActor } from "../http/context.ts";
import { folderPathOf } from "./folders.ts";
import * as S from "../http/schemas.ts";
import { body, Empty, errors, json, route } from "../http/schemas.ts";

function listJson(def: ListDefinition) {
  return {
    id: def.list.id,
    folder: def.container.path,
    name: def.list.name,
    description: def.list.description,
    key: def.columns.find((c) => c.column_name === def.list.key_column)!.name,
    autoKey: def.list.key_auto,
    columns: def.columns.map((c) => ({
      name: c.name,
      type: c.type,
      required: c.required,
      description: c.description,
      phi: c.phi,
    })),
  };
}

/** List `id`, or 404 when the caller cannot read it. */
export const listOf = (c: AppContext, id: number) => getListById(c.get("svc"), requireActor(c), id);

export function registerListApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "get",
      path: "/folders/{id}/lists",
      operationId: "listLists",
      tags: ["Lists"],
      summary: "Lists in a folder",
      request: { params: S.IdParam },
      responses: {
        200: json(
          S.Row.array().openapi({ description: "id, name, description, keyColumn, columns" }),
          "Lists",
        ),
        ...errors,
      },
    }),
    async (c) => {
      const path = await folderPathOf(c, c.req.valid("param").id);
      const { lists } = await listLists(c.get("svc"), requireActor(c), path);
      return c.json(lists, 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/folders/{id}/lists",
      operationId: "createList",
      tags: ["Lists"],
      summary: "Create a list (a real table) in a folder (needs Admin)",
      request: { params: S.IdParam, ...body(S.NewList) },
      responses: { 201: json(S.List, "Created"), ...errors, 409: json(S.ErrorBody, "Name taken") },
    }),
    async (c) => {
      const path = await folderPathOf(c, c.req.valid("param").id);
      const def = await createList(c.get("svc"), requireActor(c), path, c.req.valid("json"));
      return c.json(listJson(def), 201);
    },
  );

  api.openapi(
    route({
      method: "get",
      path: "/lists/{id}",
      operationId: "getList",
      tags: ["Lists"],
      summary: "A list's definition",
      request: { params: S.IdParam },
      responses: { 200: json(S.List, "List"), ...errors },
    }),
    async (c) => c.json(listJson(await listOf(c, c.req.valid("param").id)), 200),
  );

  api.openapi(
    route({
      method: "delete",
      path: "/lists/{id}",
      operationId: "deleteList",
      tags: ["Lists"],
      summary: "Drop a list and its rows (needs Admin)",
      request: { params: S.IdParam },
      responses: { 200: json(Empty, "Deleted"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      await deleteList(c.get("svc"), requireActor(c), def.container.path, def.list.name);
      return c.json({}, 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/lists/{id}/design",
      operationId: "changeListDesign",
      tags: ["Lists"],
      summary:
        "Add, rename or drop a column, change a description or a column's PHI level (needs Admin)",
      description: "With `preview: true` nothing changes: the answer says what the change " +
        "would do (rows affected, values lost). Without it the change is made in one transaction " +
        "and audited.",
      request: { params: S.IdParam, ...body(S.DesignChange) },
      responses: { 200: json(S.DesignResult, "Previewed or changed"), ...errors },
    }),
    async (c) => {
      const svc = c.get("svc");
      const actor = requireActor(c);
      const def = await listOf(c, c.req.valid("param").id);
      const { preview: only, ...change } = c.req.valid("json");
      if (only) {
        return c.json({ preview: await previewDesignChange(svc, actor, def, change) }, 200);
      }
      const applied = await applyDesignChange(svc, actor, def, change);
      return c.json({ preview: applied.preview, list: listJson(applied.def) }, 200);
    },
  );
}
