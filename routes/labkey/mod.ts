/**
 * The query API shaped like LabKey's HTTP API, so existing clients (the
 * Python `labkey` package, Rlabkey, LabKey's JavaScript API) work unchanged.
 * Both URL styles are answered: `/<container>/<controller>-<action>.api` and
 * `/<controller>/<container>/<action>.api` (`.view` too), GET or POST with
 * query, form or JSON parameters. Errors come back as LabKey's JSON
 * `{exception, exceptionClass, success: false}`.
 */
import { Hono } from "hono";
import { auditActor } from "../../src/core/actor.ts";
import { badRequest, LabgateError, notFound, unauthorized } from "../../src/errors.ts";
import { LabKeyParams, type LabKeyRoute, parseLabKeyPath } from "../../src/doors/labkey/request.ts";
import { errorResponse } from "../../src/doors/labkey/responses.ts";
import type { AppContext, Env } from "../http/context.ts";
import type { Action, Answer } from "./call.ts";
import { domainActions } from "./domains.ts";
import { folderActions } from "./folders.ts";
import { queryActions } from "./query.ts";

const ACTIONS: Record<string, Action> = { ...queryActions, ...folderActions, ...domainActions };

/** The LabKey action a path names, if this door answers it. */
export function labkeyAction(path: string): Action | null {
  return actionOf(parseLabKeyPath(path));
}

/** LabKey's action names are case-insensitive (`whoAmI.api`, `whoami.api`). */
const ACTIONS_BY_NAME = new Map(
  Object.entries(ACTIONS).map(([name, action]) => [name.toLowerCase(), action]),
);

function actionOf(route: LabKeyRoute | null): Action | null {
  return route ? ACTIONS_BY_NAME.get(route.action.toLowerCase()) ?? null : null;
}

/** The form, JSON or query-string parameters of a request, merged. */
async function readParams(c: AppContext): Promise<LabKeyParams> {
  const sources: [string, unknown][] = [...new URL(c.req.url).searchParams];
  if (c.req.method === "POST") {
    const type = c.req.header("content-type") ?? "";
    if (type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/")) {
      sources.push(...Object.entries(await c.req.parseBody({ all: true })));
    } else {
      const text = await c.req.text();
      if (text.trim()) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw badRequest("The request body is not valid JSON");
        }
        if (!body || typeof body !== "object" || Array.isArray(body)) {
          throw badRequest("The request body must be a JSON object");
        }
        sources.push(...Object.entries(body));
      }
    }
  }
  return new LabKeyParams(sources);
}

function outcomeOf(status: number) {
  if (status === 401 || status === 403 || status === 404) return "denied" as const;
  return status < 500 ? "failed" as const : "error" as const;
}

export function labkeyApp(): Hono<Env> {
  const app = new Hono<Env>();

  app.on(["GET", "POST"], "*", async (c, next) => {
    const route = parseLabKeyPath(c.req.path);
    if (!route) return await next();
    const action = actionOf(route);
    if (!action) {
      // LabKey's clients read a JSON error from any action URL; an HTML page breaks them.
      const { status, body } = errorResponse(
        notFound(`This server has no LabKey action ${route.action} (controller-action.api)`),
      );
      return c.json(body, status as 404);
    }
    const svc = c.get("svc");
    const resolved = c.get("actor");
    const actor = resolved && resolved.door === "web"
      ? { ...resolved, door: "api" as const }
      : resolved;
    const started = performance.now();
    const audit = (
      answer: Partial<Answer>,
      outcome: "ok" | "denied" | "failed" | "error",
      message?: string,
    ) => {
      if (!actor) return;
      svc.audit.record({
        ...auditActor(actor),
        event: route.action.replace("-", "."),
        outcome,
        containerPath: answer.containerPath ?? route.containerPath,
        detail: answer.detail ?? null,
        rows: answer.rows ?? null,
        durationMs: Math.round(performance.now() - started),
        message: message ?? null,
      });
    };
    if (!actor && route.action.toLowerCase() !== "login-whoami") {
      throw unauthorized("Sign in first: send an API key or a session cookie");
    }
    let params: LabKeyParams | undefined;
    try {
      params = await readParams(c);
      const answer = await action({ c, svc, actor, params, containerPath: route.containerPath });
      audit(answer, "ok");
      return c.json(answer.body as Record<string, unknown>);
    } catch (error) {
      const { status } = errorResponse(error);
      const detail = params?.string("sql") ??
        [
          params?.first("schemaName", "query.schemaName"),
          params?.first("queryName", "query.queryName"),
        ]
          .filter(Boolean).join(".");
      audit({ detail: detail || undefined }, outcomeOf(status), (error as Error).message);
      throw error;
    }
  });

  app.onError((error, c) => {
    const { status, body } = errorResponse(error);
    if (status === 500 && !(error instanceof LabgateError)) {
      console.error(JSON.stringify({
        level: "error",
        path: c.req.path,
        error: String((error as Error)?.stack ?? error),
      }));
    }
    return c.json(body, status as 400);
  });
  return app;
}
