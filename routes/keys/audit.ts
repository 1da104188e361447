/** One audit entry per request that presents a key: who, which key, what, and how it ended. */
import type { MiddlewareHandler } from "hono";
import { auditActor } from "../../src/core/actor.ts";
import { presentedKey } from "../../src/doors/keys/door.ts";
import { KeyRefused, parseKey } from "../../src/doors/keys/mod.ts";
import { clientAddr, type Env } from "../http/context.ts";

export const keyUseAudit: MiddlewareHandler<Env> = async (c, next) => {
  const key = presentedKey(c.req.raw.headers);
  if (key === null) return await next();
  await next();
  // The folder a request names in `?path=`, when it names one.
  const folder = c.req.query("path");
  const common = {
    event: "key.use",
    detail: `${c.req.method} ${c.req.path}`,
    containerPath: folder?.startsWith("/") ? folder : null,
  };
  const actor = c.get("actor");
  const status = c.res.status;
  if (actor && actor.credential.kind !== "session") {
    c.get("svc").audit.record({
      ...auditActor(actor),
      ...common,
      outcome: status < 400 ? "ok" : status === 401 || status === 403 ? "denied" : "failed",
      message: status < 400 ? null : `HTTP ${status}`,
    });
    return;
  }
  const refused = c.error instanceof KeyRefused ? c.error : null;
  // An unverified key's public id still says which key someone tried.
  const parsed = parseKey(key);
  c.get("svc").audit.record({
    ...common,
    door: "key",
    outcome: "denied",
    userId: refused?.userId ?? null,
    credential: refused?.credential ?? (parsed ? { kind: parsed.kind, id: parsed.id } : null),
    clientAddr: clientAddr(c),
    message: refused?.message ?? `HTTP ${status}`,
  });
};
