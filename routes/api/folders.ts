/** /api/folders: the folder tree and each folder's role assignments. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  createContainer,
  deleteContainer,
  getPolicy,
  requireContainer,
  setPolicy,
  visibleContainers,
} from "../../src/data/containers.ts";
import type { Container } from "../../src/db/schema.ts";
import { Permission, permissionNames } from "../../src/security/permissions.ts";
import { type AppContext, type Env, requireActor } from "../http/context.ts";
import * as S from "../http/schemas.ts";
import { body, Empty, errors, json, route } from "../http/schemas.ts";

function folderJson(c: Container, bits: number) {
  return {
    id: c.id,
    path: c.path,
    name: c.name,
    parentId: c.parent_id,
    description: c.description,
    inheritPolicy: c.inherit_policy,
    permissions: { bits, names: permissionNames(bits) },
  };
}

/** The path of folder `id`, or 404 when the caller cannot read it. */
export async function folderPathOf(c: AppContext, id: number): Promise<string> {
  const { container } = await requireContainer(c.get("svc"), requireActor(c), { id });
  return container.path;
}

export function registerFolderApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "get",
      path: "/folders",
      operationId: "listFolders",
      tags: ["Folders"],
      summary: "Folders you can read (or the one at ?path=)",
      request: {
        query: z.object({ path: z.string().optional().openapi({ example: "/home/assays" }) }),
      },
      responses: {
        200: json(S.Folder.array().openapi("Folders"), "Folders in path order"),
        ...errors,
      },
    }),
    async (c) => {
      const actor = requireActor(c);
      const svc = c.get("svc");
      const { path } = c.req.valid("query");
      if (path) {
        const { container, bits } = await requireContainer(svc, actor, { path });
        return c.json([folderJson(container, bits)], 200);
      }
      const folders = await visibleContainers(svc, actor);
      return c.json(folders.map((f) => folderJson(f, f.bits)), 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/folders",
      operationId: "createFolder",
      tags: ["Folders"],
      summary: "Create a folder (needs Admin on the parent)",
      request: body(S.NewFolder),
      responses: { 201: json(S.Folder, "Created"), ...errors },
    }),
    async (c) => {
      const actor = requireActor(c);
      const svc = c.get("svc");
      const input = c.req.valid("json");
      const created = await createContainer(svc, actor, {
        parentPath: input.parent,
        name: input.name,
        description: input.description,
        inheritPolicy: input.inheritPolicy,
      });
      return c.json(
        folderJson(created, await svc.permissions.resolve(actor.userId, created.id)),
        201,
      );
    },
  );

  api.openapi(
    route({
      method: "delete",
      path: "/folders/{id}",
      operationId: "deleteFolder",
      tags: ["Folders"],
      summary: "Delete a folder, its subfolders and their lists (needs Admin)",
      request: { params: S.IdParam },
      responses: { 200: json(Empty, "Deleted"), ...errors },
    }),
    async (c) => {
      const path = await folderPathOf(c, c.req.valid("param").id);
      await deleteContainer(c.get("svc"), requireActor(c), path);
      return c.json({}, 200);
    },
  );

  const policyJson = async (c: AppContext, path: string) => {
    const { container } = await requireContainer(
      c.get("svc"),
      requireActor(c),
      { path },
      Permission.ADMIN,
    );
    const policy = await getPolicy(c.get("svc"), container);
    return {
      folder: container.path,
      source: policy.source.path,
      inherit: policy.inherit,
      assignments: policy.assignments,
    };
  };

  api.openapi(
    route({
      method: "get",
      path: "/folders/{id}/policy",
      operationId: "getFolderPolicy",
      tags: ["Folders"],
      summary: "The role assignments that apply to a folder (needs Admin)",
      request: { params: S.IdParam },
      responses: { 200: json(S.Policy, "Policy"), ...errors },
    }),
    async (c) => c.json(await policyJson(c, await folderPathOf(c, c.req.valid("param").id)), 200),
  );

  api.openapi(
    route({
      method: "put",
      path: "/folders/{id}/policy",
      operationId: "setFolderPolicy",
      tags: ["Folders"],
      summary: "Inherit the parent's policy, or set the folder's own role assignments",
      request: { params: S.IdParam, ...body(S.PolicyInput) },
      responses: { 200: json(S.Policy, "Policy"), ...errors },
    }),
    async (c) => {
      const path = await folderPathOf(c, c.req.valid("param").id);
      await setPolicy(c.get("svc"), requireActor(c), path, c.req.valid("json"));
      return c.json(await policyJson(c, path), 200);
    },
  );
}
