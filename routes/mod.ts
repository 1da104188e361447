/**
 * The HTTP app: every door is a small Hono app mounted here. Web-standard
 * only, so it can run on any runtime that gives it a Request.
 */
import { Hono } from "hono";
import { sql } from "kysely";
import type { Services } from "../src/services.ts";

export interface AppOptions {
  /** Where one JSON line per request goes (stdout in production). */
  log?: (line: Record<string, unknown>) => void;
}

export function createApp(svc: Services, _options: AppOptions = {}): Hono {
  const app = new Hono();
  app.get("/healthz", async (c) => {
    try {
      await sql`select 1`.execute(svc.db);
      return c.json({ status: "ok", database: svc.database.kind });
    } catch {
      return c.json({ status: "error", database: svc.database.kind }, 503);
    }
  });
  return app;
}
