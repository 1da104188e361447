/**
 * The token door over HTTP: the action endpoint `POST /actions/<name>` and
 * the request-token API `POST /api/tokens/request`. JSON in and out.
 */
import { Hono } from "hono";
import { auditActor } from "../../src/auth/actor.ts";
import type { Actor } from "../../src/auth/actor.ts";
import { requireContainer } from "../../src/data/containers.ts";
import { getList } from "../../src/data/lists.ts";
import { type Filter, insertRows, selectRows, updateRows } from "../../src/data/rows.ts";
import { getUserByEmail } from "../../src/data/users.ts";
import { badRequest, notFound, unauthorized } from "../../src/errors.ts";
import { Permission, permissionNames } from "../../src/security/permissions.ts";
import type { Services } from "../../src/services.ts";
import { requestToken } from "../../src/tokens/tokens.ts";
import { clientAddr, type Env } from "../context.ts";

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

  app.post("/api/tokens/request", async (c) => {
    const basic = /^Basic\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (!basic) {
      c.header("WWW-Authenticate", 'Basic realm="labgate"');
      throw unauthorized("Sign in with HTTP Basic: the external app user's email and password");
    }
    let email: string, password: string;
    try {
      const decoded = new TextDecoder().decode(
        Uint8Array.from(atob(basic), (ch) => ch.charCodeAt(0)),
      );
      const colon = decoded.indexOf(":");
      if (colon < 0) throw new Error("no colon");
      [email, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
    } catch {
      throw badRequest("The Basic credentials are not valid base64 of email:password");
    }
    const body = await c.req.json().catch(() => ({})) as Body;
    const { token, value } = await requestToken(c.get("svc"), {
      email,
      password,
      reason: typeof body.reason === "string" ? body.reason : "",
      description: typeof body.description === "string" ? body.description : "",
      clientAddr: clientAddr(c),
    });
    return c.json({
      id: token.id,
      token: value,
      status: token.status,
      expiresAt: token.expires_at.toISOString(),
      message: "Keep this value: it is shown once and works after a site admin approves it",
    }, 201);
  });

  return app;
}
