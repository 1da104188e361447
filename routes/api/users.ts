/** /api/users, /api/principals and /api/groups: accounts, groups and their members. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { createGroup, deleteGroup, listGroups, setMembership } from "../../src/data/groups.ts";
import {
  createUser,
  getUser,
  listPrincipals,
  listUsers,
  requireSiteAdmin,
  updateUser,
  type UserView,
  userView,
} from "../../src/data/users.ts";
import { notFound } from "../../src/errors.ts";
import { Permission } from "../../src/security/permissions.ts";
import { type Env, requireActor } from "../http/context.ts";
import * as S from "../http/schemas.ts";
import { body, Empty, errors, json, route } from "../http/schemas.ts";

export function userJson(u: UserView) {
  return {
    ...u,
    createdAt: u.createdAt.toISOString(),
    lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
  };
}

export function registerUserApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "get",
      path: "/users",
      operationId: "listUsers",
      tags: ["Users"],
      summary: "Users (Site Admin); ?type=normal|app",
      request: { query: z.object({ type: z.enum(["normal", "app"]).optional() }) },
      responses: { 200: json(S.User.array().openapi("Users"), "Users"), ...errors },
    }),
    async (c) => {
      const users = await listUsers(c.get("svc"), requireActor(c), {
        userType: c.req.valid("query").type,
      });
      return c.json(users.map(userJson), 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/users",
      operationId: "createUser",
      tags: ["Users"],
      summary: "Create a user (Site Admin)",
      request: body(S.NewUser),
      responses: { 201: json(S.User, "Created"), ...errors, 409: json(S.ErrorBody, "Email taken") },
    }),
    async (c) => {
      const user = await createUser(c.get("svc"), requireActor(c), c.req.valid("json"));
      return c.json(userJson(userView(user)), 201);
    },
  );

  api.openapi(
    route({
      method: "get",
      path: "/users/{id}",
      operationId: "getUser",
      tags: ["Users"],
      summary: "One user (Site Admin)",
      request: { params: S.IdParam },
      responses: { 200: json(S.User, "User"), ...errors },
    }),
    async (c) => {
      await requireSiteAdmin(c.get("svc"), requireActor(c));
      const user = await getUser(c.get("svc"), c.req.valid("param").id);
      if (!user) throw notFound(`No user with id ${c.req.valid("param").id}`);
      return c.json(userJson(userView(user)), 200);
    },
  );

  api.openapi(
    route({
      method: "patch",
      path: "/users/{id}",
      operationId: "updateUser",
      tags: ["Users"],
      summary: "Change a user's profile, type, active flag or password (Site Admin)",
      request: { params: S.IdParam, ...body(S.UserUpdate) },
      responses: { 200: json(S.User, "Updated"), ...errors },
    }),
    async (c) => {
      const user = await updateUser(
        c.get("svc"),
        requireActor(c),
        c.req.valid("param").id,
        c.req.valid("json"),
      );
      return c.json(userJson(userView(user)), 200);
    },
  );

  api.openapi(
    route({
      method: "get",
      path: "/principals",
      operationId: "listPrincipals",
      tags: ["Users"],
      summary: "Users and groups to assign roles to (needs Admin on some folder)",
      responses: {
        200: json(S.Row.array().openapi({ description: "id, kind, label" }), "Principals"),
        ...errors,
      },
    }),
    async (c) => {
      const actor = requireActor(c);
      const svc = c.get("svc");
      const bits = await svc.permissions.resolveAll(actor.userId);
      if (![...bits.values()].some((b) => b & Permission.ADMIN)) {
        await requireSiteAdmin(svc, actor);
      }
      return c.json(await listPrincipals(svc), 200);
    },
  );

  api.openapi(
    route({
      method: "get",
      path: "/groups",
      operationId: "listGroups",
      tags: ["Groups"],
      summary: "Groups and their members (Site Admin)",
      responses: { 200: json(S.Group.array().openapi("Groups"), "Groups"), ...errors },
    }),
    async (c) => c.json(await listGroups(c.get("svc"), requireActor(c)), 200),
  );

  api.openapi(
    route({
      method: "post",
      path: "/groups",
      operationId: "createGroup",
      tags: ["Groups"],
      summary: "Create a group (Site Admin)",
      request: body(S.NewGroup),
      responses: { 201: json(S.Group, "Created"), ...errors, 409: json(S.ErrorBody, "Name taken") },
    }),
    async (c) => {
      const group = await createGroup(c.get("svc"), requireActor(c), c.req.valid("json"));
      return c.json(
        { id: group.id, name: group.name, description: group.description, members: [] },
        201,
      );
    },
  );

  api.openapi(
    route({
      method: "delete",
      path: "/groups/{id}",
      operationId: "deleteGroup",
      tags: ["Groups"],
      summary: "Delete a group (Site Admin)",
      request: { params: S.IdParam },
      responses: { 200: json(Empty, "Deleted"), ...errors },
    }),
    async (c) => {
      await deleteGroup(c.get("svc"), requireActor(c), c.req.valid("param").id);
      return c.json({}, 200);
    },
  );

  const MemberParams = S.IdParam.extend({
    userId: z.coerce.number().int().openapi({
      param: { name: "userId", in: "path", required: true },
    }),
  });
  for (const [method, member] of [["put", true], ["delete", false]] as const) {
    api.openapi(
      route({
        method,
        path: "/groups/{id}/members/{userId}",
        operationId: member ? "addGroupMember" : "removeGroupMember",
        tags: ["Groups"],
        summary: member ? "Add a member (Site Admin)" : "Remove a member (Site Admin)",
        request: { params: MemberParams },
        responses: { 200: json(Empty, "Done"), ...errors },
      }),
      async (c) => {
        const { id, userId } = c.req.valid("param");
        await setMembership(c.get("svc"), requireActor(c), { groupId: id, userId, member });
        return c.json({}, 200);
      },
    );
  }
}
