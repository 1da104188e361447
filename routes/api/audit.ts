/** /api/audit: the audit log, for site admins. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { sql } from "kysely";
import { requireSiteAdmin } from "../../src/data/users.ts";
import { type Env, requireActor } from "../context.ts";
import * as S from "./schemas.ts";
import { errors, json, route } from "./schemas.ts";

export function registerAuditApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "get",
      path: "/audit",
      operationId: "listAuditEntries",
      tags: ["Audit"],
      summary: "Recent audit entries, newest first (Site Admin)",
      request: {
        query: z.object({
          limit: z.string().optional().openapi({ description: "1 to 5000; default 100" }),
          event: z.string().optional().openapi({ description: "Event name prefix, e.g. login" }),
          door: z.string().optional().openapi({ example: "api" }),
          user: z.string().optional().openapi({ description: "The user's email" }),
        }),
      },
      responses: { 200: json(S.Row.array().openapi("AuditEntries"), "Entries"), ...errors },
    }),
    async (c) => {
      const svc = c.get("svc");
      await requireSiteAdmin(svc, requireActor(c));
      await svc.audit.flush();
      const { event, door, user, ...asked } = c.req.valid("query");
      const limit = Math.min(Math.max(Number(asked.limit ?? 100) || 100, 1), 5000);
      let query = svc.db.selectFrom("audit_log").selectAll().orderBy("id", "desc").limit(limit);
      if (event) query = query.where("event", "like", `${event}%`);
      if (door) query = query.where("door", "=", door);
      if (user) query = query.where(sql`lower(user_email)`, "=", user.toLowerCase());
      return c.json(await query.execute() as unknown as Record<string, unknown>[], 200);
    },
  );
}
