/**
 * The token door's action endpoint `POST /actions/<name>`: JSON in and out.
 * The request-token call is in the JSON API (routes/tokens/api.ts).
 */
import { Hono } from "hono";
import { auditActor } from "../../src/core/actor.ts";
import type { Actor } from "../../src/core/actor.ts";
import { requireContainer } from "../../src/data/containers.ts";
import { getList } from "../../src/data/lists.ts";
import { type Filter, insertRows, selectRows, updateRows } from "../../src/data/rows.ts";
import { getUserByEmail } from "../../src/data/users.ts";
import { badRequest, notFound, unauthorized } from "../../src/errors.ts";
import { Permission, permissionNames } from "../../src/security/permissions.ts";
import type { Services } from "../../src/services.ts";
import { type Env, statementTimeoutOf } from "../http/context.ts";

type Body = Record<string, unknown>;
type Action = (svc: Services, actor: Actor, body: Body) => Promise<Record<string, unknown>>;

function text(body: Body, name: string): string {
  const value = body[name];
  if (typeof value !== "string" || !value.trim()) throw badRequest(`Missing "${name}" (a string)`);
  return value.trim();
}

function rowsOf(body: Body): Record<string, unknown>[] {
  if (!Array.isArray(body.rows)) throw badRequest(`Missing "rows" (an array of objects)`);
  return body.rows;
}

const ACTIONS: Record<string, Action> = {
  async selectRows(svc, actor, body) {
    const def = await getList(svc, actor, text(body, "folder"), text(body, "list"));
    if (body.filters !== undefined && !Array.isArray(body.filters)) {
      throw badRequest(`"filters" must be an array of {column, op, value}`);
    }
    const { rows, total } = await selectRows(svc, actor, def, {
      filters: body.filters as Filter[] | undefined,
      timeoutMs: await statementTimeoutOf(svc, actor),
    });
    return { rows, total };
  },
  async insertRows(svc, actor, body) {
    const def = await getList(svc, actor, text(body, "folder"), text(body, "list"));
    return { rows: await insertRows(svc, actor, def, rowsOf(body)) };
  },
  async updateRows(svc, actor, body) {
    const def = await getList(svc, actor, text(body, "folder"), text(body, "list"));
    return { rows: await updateRows(svc, actor, def, rowsOf(body)) };
  },
  async checkPermissions(svc, actor, body) {
    const path = text(body, "folder");
    const email = typeof body.user === "string" && body.user.trim() ? body.user.trim() : null;
    let userId = actor.userId;
    if (email && email.toLowerCase() !== actor.email.toLowerCase()) {
      await requireContainer(svc, actor, { path }, Permission.ADMIN);
      const user = await getUserByEmail(svc, email);
      if (!user) throw notFound(`No user ${email}`);
      userId = user.id;
    }
    const { container } = await requireContainer(svc, actor, { path });
    const bits = await svc.permissions.resolve(userId, container.id);
    return {
      folder: container.path,
      user: email ?? actor.email,
      permissions: bits,
      names: permissionNames(bits),
    };
  },
};

export function tokenRoutes(): Hono<Env> {
  const app = new Hono<Env>();

  app.post("/actions/:name", async (c) => {
    const actor = c.get("actor");
    if (!actor?.token) {
      throw unauthorized(
        "The action endpoint takes an auth token: send Authorization: Token <value>",
      );
    }
    const name = c.req.param("name");
    const action = Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
    if (!action) throw notFound(`No action ${name}: use ${Object.keys(ACTIONS).join(", ")}`);
    const body = await c.req.json().catch(() => null);
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      throw badRequest("Send a JSON object as the request body");
    }
    const svc = c.get("svc");
    const started = performance.now();
    const record = (outcome: "ok" | "denied", message?: string) =>
      svc.audit.record({
        ...auditActor(actor),
        event: `action.${name}`,
        outcome,
        containerPath: typeof body.folder === "string" ? body.folder : null,
        detail: JSON.stringify({
          app: actor.token!.appId,
          appUser: actor.token!.appUserEmail,
          processAs: actor.email === actor.token!.appUserEmail ? null : actor.email,
          list: body.list ?? null,
        }),
        durationMs: performance.now() - started,
        message: message ?? null,
      });
    try {
      const result = await action(svc, actor, body);
      record("ok");
      return c.json(result);
    } catch (error) {
      record("denied", (error as Error).message);
      throw error;
    }
  });

  return app;
}
