/**
 * /api/keys: create, list and revoke your keys from a signed-in session
 * (cookie + X-CSRF-Token), e.g. a script that logs in once and takes a session key.
 */
import { Hono } from "hono";
import {
  createApiKey,
  createSessionKey,
  type KeyView,
  listKeys,
  revokeKey,
} from "../../src/keys/mod.ts";
import { badRequest } from "../../src/errors.ts";
import { type Env, requireActor } from "../context.ts";

export function keyJson(view: KeyView) {
  return {
    ...view,
    createdAt: view.createdAt.toISOString(),
    expiresAt: view.expiresAt?.toISOString() ?? null,
    lastUsedAt: view.lastUsedAt?.toISOString() ?? null,
    revokedAt: view.revokedAt?.toISOString() ?? null,
  };
}

export function keyApi(): Hono<Env> {
  const api = new Hono<Env>();

  api.get("/", async (c) => {
    const all = c.req.query("all") === "true";
    const keys = await listKeys(c.get("svc"), requireActor(c), { all });
    return c.json(keys.map(keyJson));
  });

  api.post("/", async (c) => {
    const actor = requireActor(c);
    const svc = c.get("svc");
    const input = await c.req.json().catch(() => null) as
      | { kind?: unknown; expiry?: unknown; description?: unknown }
      | null;
    const description = typeof input?.description === "string" ? input.description : "";
    let created;
    if (input?.kind === "session_key") {
      created = await createSessionKey(svc, actor, { description });
    } else if (input?.kind === "api_key") {
      created = await createApiKey(svc, actor, { expiry: String(input.expiry ?? ""), description });
    } else {
      throw badRequest('Give "kind": "api_key" (with "expiry") or "session_key"');
    }
    c.header("cache-control", "no-store");
    return c.json({ key: created.key, ...keyJson(created.view) }, 201);
  });

  api.delete("/:id", async (c) => {
    const view = await revokeKey(c.get("svc"), requireActor(c), c.req.param("id"));
    return c.json(keyJson(view));
  });

  return api;
}
