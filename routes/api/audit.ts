/** /api/audit: the audit log, for site admins. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { searchAudit } from "../../src/audit/query.ts";
import { requireSiteAdmin } from "../../src/data/users.ts";
import { type Env, requireActor } from "../http/context.ts";
import * as S from "../http/schemas.ts";
import { errors, json, route } from "../http/schemas.ts";

export function registerAuditApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "get",
      path: "/audit",
      operationId: "listAuditEntries",
      tags: ["Audit"],
      summary: "Audit entries, newest or oldest first (Site Admin); page with `before` / `after`",
      description: "The next page: the same query with `before` (newest first) or `after` " +
        "(`order=oldest`) set to the last entry's id.",
      request: {
        query: z.object({
          limit: z.string().optional().openapi({ description: "1 to 5000; default 100" }),
          before: z.coerce.number().int().optional().openapi({
            description: "Only entries with a smaller id (the next page, newest first)",
          }),
          after: z.coerce.number().int().optional().openapi({
            description: "Only entries with a larger id (the next page, oldest first)",
          }),
          order: z.enum(["newest", "oldest"]).optional().openapi({
            description: "Sort by time: newest (default) or oldest first",
          }),
          event: z.string().optional().openapi({ description: "Event name prefix, e.g. login" }),
          door: z.string().optional().openapi({ example: "api" }),
          outcome: z.enum(["ok", "denied", "failed", "error"]).optional(),
          user: z.string().optional().openapi({ description: "The user's email" }),
          from: z.string().datetime({ offset: true }).optional().openapi({
            description: "Entries at or after this time (ISO 8601)",
          }),
          to: z.string().datetime({ offset: true }).optional().openapi({
            description: "Entries before this time (ISO 8601)",
          }),
        }),
      },
      responses: { 200: json(S.Row.array().openapi("AuditEntries"), "Entries"), ...errors },
    }),
    async (c) => {
      const svc = c.get("svc");
      await requireSiteAdmin(svc, requireActor(c));
      const { user, from, to, limit: asked, ...filter } = c.req.valid("query");
      const limit = Math.min(Math.max(Number(asked ?? 100) || 100, 1), 5000);
      const { entries } = await searchAudit(svc, {
        ...filter,
        userEmail: user,
        from: from ? new Date(from) : undefined,
        to: to ? new Date(to) : undefined,
      }, limit);
      return c.json(entries as unknown as Record<string, unknown>[], 200);
    },
  );
}
