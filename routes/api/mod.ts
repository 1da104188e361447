/**
 * The JSON API under /api: everything the pages do, for admins who script
 * setup. Validated with zod; the OpenAPI document is served at
 * /api/openapi.json. Session-cookie calls send the CSRF token in
 * X-CSRF-Token; keys and tokens (other doors) need none.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { sql } from "kysely";
import { setCookie } from "hono/cookie";
import { checkDeclarations } from "../../src/auth/compliance.ts";
import { checkPasswordLogin } from "../../src/auth/login.ts";
import { createSession, SESSION_COOKIE } from "../../src/auth/sessions.ts";
import {
  createContainer,
  deleteContainer,
  getPolicy,
  requireContainer,
  setPolicy,
  visibleContainers,
} from "../../src/data/containers.ts";
import { createGroup, deleteGroup, listGroups, setMembership } from "../../src/data/groups.ts";
import {
  createList,
  deleteList,
  getListById,
  type ListDefinition,
  listLists,
} from "../../src/data/lists.ts";
import {
  deleteRows,
  type Filter,
  FILTER_OPS,
  type FilterOp,
  importRows,
  insertRows,
  selectRows,
  updateRows,
} from "../../src/data/rows.ts";
import { formulaHandling, toCsv } from "../../src/data/csv.ts";
import {
  changeOwnPassword,
  createUser,
  getUser,
  listPrincipals,
  listUsers,
  requireSiteAdmin,
  updateUser,
  type UserView,
  userView,
} from "../../src/data/users.ts";
import type { Container } from "../../src/db/schema.ts";
import { badRequest, notFound } from "../../src/errors.ts";
import { Permission, permissionNames } from "../../src/security/permissions.ts";
import { parseVerifier, verifyPassword } from "../../src/security/scram.ts";
import { endLogin, sessionCookieOptions } from "../pages/login.tsx";
import { type AppContext, clientAddr, type Env, requireActor } from "../context.ts";
import { registerKeyApi } from "./keys.ts";
import * as S from "./schemas.ts";
import { body, Empty, errors, json } from "./schemas.ts";
import { registerTokenApi } from "./tokens.ts";

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
    })),
  };
}

function userJson(u: UserView) {
  return {
    ...u,
    createdAt: u.createdAt.toISOString(),
    lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
  };
}

async function folderPathOf(c: AppContext, id: number): Promise<string> {
  const { container } = await requireContainer(c.get("svc"), requireActor(c), { id });
  return container.path;
}

/** `<column>~<op>=<value>` query parameters (LabKey's filter syntax) as filters. */
export function filtersFromQuery(params: URLSearchParams, prefix = ""): Filter[] {
  const filters: Filter[] = [];
  for (const [name, value] of params) {
    if (!name.startsWith(prefix) || !name.includes("~")) continue;
    const [column, op] = name.slice(prefix.length).split("~");
    const lower = op.toLowerCase();
    if (!(FILTER_OPS as readonly string[]).includes(lower)) {
      throw badRequest(`Unknown filter "${op}" on ${column}: use one of ${FILTER_OPS.join(", ")}`);
    }
    filters.push({ column, op: lower as FilterOp, value });
  }
  return filters;
}

export function apiApp(): OpenAPIHono<Env> {
  const api = new OpenAPIHono<Env>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({
          path: i.path.join("."),
          message: i.message,
        }));
        const first = issues[0];
        return c.json({
          error: {
            status: 400,
            message: `Invalid request: ${first.path ? `${first.path}: ` : ""}${first.message}`,
            details: { issues },
          },
        }, 400);
      }
    },
  });

  // --- session ---------------------------------------------------------
  api.openapi(
    createRoute({
      method: "post",
      path: "/login",
      tags: ["Session"],
      summary: "Sign in with email and password; sets the session cookie",
      request: body(S.Login),
      responses: {
        200: json(S.Me, "Signed in"),
        ...errors,
        429: json(S.ErrorBody, "Too many failures"),
      },
    }),
    async (c) => {
      const svc = c.get("svc");
      const input = c.req.valid("json");
      const compliance = await checkDeclarations(svc, input.compliance);
      const user = await checkPasswordLogin(svc, {
        email: input.email,
        password: input.password,
        clientAddr: clientAddr(c),
        door: "api",
      });
      const { cookie, session } = await createSession(svc, {
        userId: user.id,
        clientAddr: clientAddr(c),
        userAgent: c.req.header("user-agent"),
        compliance,
      });
      setCookie(c, SESSION_COOKIE, cookie, sessionCookieOptions(c));
      svc.audit.record({
        door: "api",
        event: "login",
        outcome: "ok",
        userId: user.id,
        userEmail: user.email,
        credential: { kind: "session", id: session.id },
        compliance: compliance as Record<string, unknown> | null,
        clientAddr: clientAddr(c),
      });
      return c.json({
        user: userJson(userView(user)),
        siteAdmin: await svc.permissions.isSiteAdmin(user.id),
        csrfToken: session.csrf_token,
      }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "post",
      path: "/logout",
      tags: ["Session"],
      summary: "End the session behind the cookie",
      responses: { 200: json(Empty, "Signed out"), ...errors },
    }),
    async (c) => {
      const actor = requireActor(c);
      if (actor.session) await endLogin(c, actor.session.id);
      return c.json({}, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "get",
      path: "/me",
      tags: ["Session"],
      summary: "Who am I",
      responses: { 200: json(S.Me, "The signed-in user"), ...errors },
    }),
    async (c) => {
      const actor = requireActor(c);
      const svc = c.get("svc");
      const user = (await getUser(svc, actor.userId))!;
      return c.json({
        user: userJson(userView(user)),
        siteAdmin: await svc.permissions.isSiteAdmin(actor.userId),
        csrfToken: actor.session?.csrfToken ?? null,
      }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "post",
      path: "/me/password",
      tags: ["Session"],
      summary: "Change your own password",
      request: body(z.object({ currentPassword: z.string(), newPassword: z.string() })),
      responses: { 200: json(Empty, "Changed"), ...errors },
    }),
    async (c) => {
      const actor = requireActor(c);
      const svc = c.get("svc");
      const input = c.req.valid("json");
      const user = (await getUser(svc, actor.userId))!;
      if (
        !user.password_verifier ||
        !await verifyPassword(parseVerifier(user.password_verifier), input.currentPassword)
      ) {
        throw badRequest("Your current password is not right");
      }
      await changeOwnPassword(svc, actor, { newPassword: input.newPassword });
      return c.json({}, 200);
    },
  );

  // --- folders ---------------------------------------------------------
  api.openapi(
    createRoute({
      method: "get",
      path: "/folders",
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
    createRoute({
      method: "post",
      path: "/folders",
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
    createRoute({
      method: "delete",
      path: "/folders/{id}",
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
    createRoute({
      method: "get",
      path: "/folders/{id}/policy",
      tags: ["Folders"],
      summary: "The role assignments that apply to a folder (needs Admin)",
      request: { params: S.IdParam },
      responses: { 200: json(S.Policy, "Policy"), ...errors },
    }),
    async (c) => c.json(await policyJson(c, await folderPathOf(c, c.req.valid("param").id)), 200),
  );

  api.openapi(
    createRoute({
      method: "put",
      path: "/folders/{id}/policy",
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

  // --- lists -----------------------------------------------------------
  api.openapi(
    createRoute({
      method: "get",
      path: "/folders/{id}/lists",
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
    createRoute({
      method: "post",
      path: "/folders/{id}/lists",
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

  const listOf = (c: AppContext, id: number) => getListById(c.get("svc"), requireActor(c), id);

  api.openapi(
    createRoute({
      method: "get",
      path: "/lists/{id}",
      tags: ["Lists"],
      summary: "A list's definition",
      request: { params: S.IdParam },
      responses: { 200: json(S.List, "List"), ...errors },
    }),
    async (c) => c.json(listJson(await listOf(c, c.req.valid("param").id)), 200),
  );

  api.openapi(
    createRoute({
      method: "delete",
      path: "/lists/{id}",
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
    createRoute({
      method: "get",
      path: "/lists/{id}/rows",
      tags: ["Rows"],
      summary: "Rows, paged; filter with `<column>~<op>=<value>` (eq, neq, gt, gte, lt, lte, " +
        "contains, startswith, in (values separated by ;), isblank, …)",
      request: {
        params: S.IdParam,
        query: z.object({
          limit: z.coerce.number().int().min(0).optional(),
          offset: z.coerce.number().int().min(0).optional(),
          sort: z.string().optional().openapi({
            description: "Column name; prefix with - for descending",
          }),
        }),
      },
      responses: { 200: json(S.RowPage, "Rows"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const { limit = 100, offset = 0, sort } = c.req.valid("query");
      const filters = filtersFromQuery(new URL(c.req.url).searchParams);
      const result = await selectRows(c.get("svc"), requireActor(c), def, {
        limit,
        offset,
        filters,
        sort: sort ? [{ column: sort.replace(/^-/, ""), descending: sort.startsWith("-") }] : [],
      });
      return c.json({ rows: result.rows, total: result.total, limit, offset }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "post",
      path: "/lists/{id}/rows",
      tags: ["Rows"],
      summary: "Insert rows in one transaction (needs Insert); returns them as stored",
      request: { params: S.IdParam, ...body(S.Rows) },
      responses: { 201: json(S.Rows, "Inserted"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const rows = await insertRows(c.get("svc"), requireActor(c), def, c.req.valid("json").rows);
      return c.json({ rows }, 201);
    },
  );

  api.openapi(
    createRoute({
      method: "patch",
      path: "/lists/{id}/rows",
      tags: ["Rows"],
      summary: "Update rows by key in one transaction (needs Update)",
      request: { params: S.IdParam, ...body(S.Rows) },
      responses: { 200: json(S.Rows, "Updated"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const rows = await updateRows(c.get("svc"), requireActor(c), def, c.req.valid("json").rows);
      return c.json({ rows }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "delete",
      path: "/lists/{id}/rows",
      tags: ["Rows"],
      summary: "Delete rows by key in one transaction (needs Delete); returns them",
      request: { params: S.IdParam, ...body(S.Keys) },
      responses: { 200: json(S.Rows, "Deleted"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const rows = await deleteRows(c.get("svc"), requireActor(c), def, c.req.valid("json").keys);
      return c.json({ rows }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "post",
      path: "/lists/{id}/import",
      tags: ["Rows"],
      summary: "Import CSV/TSV: all rows or nothing. Send text/csv, text/tab-separated-values, " +
        "or JSON {text, format}",
      request: {
        params: S.IdParam,
        body: {
          content: {
            "application/json": { schema: S.ImportInput },
            "text/csv": { schema: z.string() },
            "text/tab-separated-values": { schema: z.string() },
          },
          // Not "required": that would run the JSON validator on CSV bodies too.
          required: false,
        },
      },
      responses: {
        200: json(z.object({ inserted: z.number().int() }).openapi("Imported"), "Imported"),
        ...errors,
      },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const type = c.req.header("content-type") ?? "";
      let text: string | Uint8Array;
      let format: "csv" | "tsv" | undefined;
      if (type.startsWith("application/json")) {
        ({ text, format } = c.req.valid("json") as z.infer<typeof S.ImportInput>);
      } else {
        text = new Uint8Array(await c.req.arrayBuffer());
        format = type.startsWith("text/tab-separated-values")
          ? "tsv"
          : type.startsWith("text/csv")
          ? "csv"
          : undefined;
      }
      const { inserted } = await importRows(c.get("svc"), requireActor(c), def, { text, format });
      return c.json({ inserted }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "get",
      path: "/lists/{id}/export",
      tags: ["Rows"],
      summary: "All rows as CSV",
      description:
        "Cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR, " +
        "numbers excepted) get a leading `'`; `formulas=keep` exports them as they are.",
      request: {
        params: S.IdParam,
        query: z.object({ formulas: z.enum(["neutralize", "keep"]).optional() }),
      },
      responses: {
        200: { content: { "text/csv": { schema: z.string() } }, description: "CSV" },
        ...errors,
      },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const { rows, columns } = await selectRows(c.get("svc"), requireActor(c), def, {
        limit: 1_000_000,
      });
      const csv = toCsv(columns, rows, formulaHandling(c.req.valid("query").formulas));
      return c.body(csv, 200, { "content-type": "text/csv; charset=utf-8" });
    },
  );

  // --- users and groups -------------------------------------------------
  api.openapi(
    createRoute({
      method: "get",
      path: "/users",
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
    createRoute({
      method: "post",
      path: "/users",
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
    createRoute({
      method: "get",
      path: "/users/{id}",
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
    createRoute({
      method: "patch",
      path: "/users/{id}",
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
    createRoute({
      method: "get",
      path: "/principals",
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
    createRoute({
      method: "get",
      path: "/groups",
      tags: ["Groups"],
      summary: "Groups and their members (Site Admin)",
      responses: { 200: json(S.Group.array().openapi("Groups"), "Groups"), ...errors },
    }),
    async (c) => c.json(await listGroups(c.get("svc"), requireActor(c)), 200),
  );

  api.openapi(
    createRoute({
      method: "post",
      path: "/groups",
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
    createRoute({
      method: "delete",
      path: "/groups/{id}",
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
    userId: z.coerce.number().int().openapi({ param: { name: "userId", in: "path" } }),
  });
  for (const [method, member] of [["put", true], ["delete", false]] as const) {
    api.openapi(
      createRoute({
        method,
        path: "/groups/{id}/members/{userId}",
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

  // --- audit -----------------------------------------------------------
  api.openapi(
    createRoute({
      method: "get",
      path: "/audit",
      tags: ["Audit"],
      summary:
        "Recent audit entries, newest first (Site Admin); ?limit, ?event (prefix), ?door, ?user",
      responses: { 200: json(S.Row.array().openapi("AuditEntries"), "Entries"), ...errors },
    }),
    async (c) => {
      const svc = c.get("svc");
      await requireSiteAdmin(svc, requireActor(c));
      await svc.audit.flush();
      const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 100) || 100, 1), 5000);
      let query = svc.db.selectFrom("audit_log").selectAll().orderBy("id", "desc").limit(limit);
      const event = c.req.query("event");
      const door = c.req.query("door");
      const user = c.req.query("user");
      if (event) query = query.where("event", "like", `${event}%`);
      if (door) query = query.where("door", "=", door);
      if (user) query = query.where(sql`lower(user_email)`, "=", user.toLowerCase());
      return c.json(await query.execute() as unknown as Record<string, unknown>[], 200);
    },
  );

  registerKeyApi(api);
  registerTokenApi(api);

  api.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "labgate API",
      version: "1",
      description: "Folders, users, groups, role assignments, lists and rows; API keys, " +
        "external apps and token requests. Sign in with POST /api/login (cookie + " +
        "X-CSRF-Token header on writes), or send an API key (HTTP Basic user apikey) or an " +
        "auth token (Authorization: Token …), which need no CSRF token.",
    },
  });
  return api;
}
