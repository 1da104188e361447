/**
 * What an operator's tools ask: `/healthz` (the process answers and reaches
 * its database), `/readyz` (ready for traffic: database, migrations, SQL door,
 * certificate) and `/metrics` (Prometheus), guarded by `LABGATE_METRICS`.
 */
import { Hono } from "hono";
import { pingDatabase } from "../src/ops/health.ts";
import { pendingMigrations } from "../src/db/mod.ts";
import { isLoopback } from "../src/security/forwarded.ts";
import { sha256Hex, timingSafeEqual } from "../src/security/secrets.ts";
import { servedCertificateExpiry } from "../src/doors/sql/tls/mod.ts";
import { clientAddr, type Env } from "./http/context.ts";

/** A readiness check: null when fine, else what is wrong. */
export type ReadinessCheck = () => Promise<string | null> | string | null;

export function opsRoutes(checks: Record<string, ReadinessCheck> = {}): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/healthz", async (c) => {
    const svc = c.get("svc");
    try {
      await pingDatabase(svc);
      return c.json({ status: "ok", database: svc.database.kind });
    } catch {
      return c.json({ status: "error", database: svc.database.kind }, 503);
    }
  });

  app.get("/readyz", async (c) => {
    const svc = c.get("svc");
    const all: Record<string, ReadinessCheck> = {
      database: async () => {
        await pingDatabase(svc);
        return null;
      },
      migrations: async () => {
        const pending = await pendingMigrations(svc.database.root);
        return pending.length ? `not yet run: ${pending.join(", ")}` : null;
      },
      certificate: () => {
        // No certificate (configured files not given): the door offers no TLS, which is no fault.
        const expiry = servedCertificateExpiry(svc);
        return expiry && expiry <= svc.now() ? `expired at ${expiry.toISOString()}` : null;
      },
      ...checks,
    };
    const results: Record<string, { ok: boolean; detail?: string }> = {};
    await Promise.all(
      Object.entries(all).map(async ([name, check]) => {
        try {
          const problem = await check();
          results[name] = problem ? { ok: false, detail: problem } : { ok: true };
        } catch (error) {
          results[name] = { ok: false, detail: (error as Error).message ?? String(error) };
        }
      }),
    );
    const ready = Object.values(results).every((r) => r.ok);
    return c.json({ status: ready ? "ready" : "not ready", checks: results }, ready ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    const svc = c.get("svc");
    const access = svc.config.metrics;
    // Plain-text refusals: a scraper is no browser to send to the sign-in page.
    if (access.access === "off") return c.text("Metrics are off (LABGATE_METRICS=off)\n", 404);
    if (access.access === "loopback" && !isLoopback(clientAddr(c))) {
      return c.text(
        "Metrics are served to loopback clients only (LABGATE_METRICS=loopback)\n",
        403,
      );
    }
    if (access.access === "token") {
      const presented = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
      if (!timingSafeEqual(await sha256Hex(presented), await sha256Hex(access.token))) {
        c.header("www-authenticate", 'Bearer realm="labgate metrics"');
        return c.text("Metrics need the bearer token of LABGATE_METRICS_TOKEN\n", 401);
      }
    }
    return c.body(svc.metrics.registry.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });

  return app;
}
