/**
 * /api/keys: create, list and revoke your keys from a signed-in session
 * (cookie + X-CSRF-Token), e.g. a script that logs in once and takes a session key.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  createApiKey,
  createSessionKey,
  type KeyView,
  listKeys,
  revokeKey,
  setKeyStatementTimeout,
} from "../../src/doors/keys/mod.ts";
import { type Env, requireActor } from "../http/context.ts";
import * as S from "../http/schemas.ts";
import { body, errors, json, route, SESSION_ONLY } from "../http/schemas.ts";

function keyJson(view: KeyView) {
  return {
    ...view,
    status: view.status as z.infer<typeof S.ApiKey>["status"],
    createdAt: view.createdAt.toISOString(),
    expiresAt: view.expiresAt?.toISOString() ?? null,
    lastUsedAt: view.lastUsedAt?.toISOString() ?? null,
    revokedAt: view.revokedAt?.toISOString() ?? null,
  };
}

export function registerKeyApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "get",
      path: "/keys",
      operationId: "listKeys",
      tags: ["Keys"],
      summary: "Your API and session keys, newest first; ?all=true lists everyone's (Site Admin)",
      request: {
        query: z.object({ all: z.enum(["true", "false"]).optional() }),
      },
      responses: { 200: json(S.ApiKey.array().openapi("ApiKeys"), "Keys"), ...errors },
    }),
    async (c) => {
      const all = c.req.valid("query").all === "true";
      const keys = await listKeys(c.get("svc"), requireActor(c), { all });
      return c.json(keys.map(keyJson), 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/keys",
      operationId: "createKey",
      security: SESSION_ONLY,
      tags: ["Keys"],
      summary: "Create an API key or a session key from a signed-in browser session; " +
        "the key is in the answer only",
      request: body(S.NewApiKey),
      responses: { 201: json(S.CreatedApiKey, "Created: keep the key now"), ...errors },
    }),
    async (c) => {
      const actor = requireActor(c);
      const svc = c.get("svc");
      const input = c.req.valid("json");
      const description = input.description ?? "";
      const created = input.kind === "session_key"
        ? await createSessionKey(svc, actor, { description })
        : await createApiKey(svc, actor, {
          expiry: input.expiry ?? "",
          description,
          phiLevel: input.phiLevel,
        });
      c.header("cache-control", "no-store");
      return c.json({ key: created.key, ...keyJson(created.view) }, 201);
    },
  );

  api.openapi(
    route({
      method: "patch",
      path: "/keys/{id}",
      operationId: "setKeyLimits",
      tags: ["Keys"],
      summary: "Set an API key's own statement time limit (Site Admin)",
      request: { params: S.KeyIdParam, ...body(S.KeyLimits) },
      responses: { 200: json(S.ApiKey, "Changed"), ...errors },
    }),
    async (c) => {
      const view = await setKeyStatementTimeout(
        c.get("svc"),
        requireActor(c),
        c.req.valid("param").id,
        c.req.valid("json").statementTimeoutSeconds,
      );
      return c.json(keyJson(view), 200);
    },
  );

  api.openapi(
    route({
      method: "delete",
      path: "/keys/{id}",
      operationId: "revokeKey",
      tags: ["Keys"],
      summary: "Revoke a key: your own, or anyone's as a site admin",
      request: { params: S.KeyIdParam },
      responses: { 200: json(S.ApiKey, "Revoked"), ...errors },
    }),
    async (c) => {
      const view = await revokeKey(c.get("svc"), requireActor(c), c.req.valid("param").id);
      return c.json(keyJson(view), 200);
    },
  );
}
