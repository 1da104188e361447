/**
 * The HTTP app: every door is a small Hono app mounted here. Web-standard
 * only, so it can run on any runtime that gives it a Request.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { matchedRoutes } from "hono/route";
import { HTTPException } from "hono/http-exception";
import { shownBytes } from "../src/config.ts";
import {
  DATABASE_UNAVAILABLE,
  databaseRefusal,
  isDatabaseUnavailable,
  LabgateError,
} from "../src/errors.ts";
import { errorBody } from "../src/doors/labkey/responses.ts";
import type { Services } from "../src/services.ts";
import { apiApp } from "./api/mod.ts";
import { type AppContext, csrfProtection, type Env, withActor } from "./http/context.ts";
import { keyUseAudit } from "./keys/audit.ts";
import { labkeyAction, labkeyApp } from "./labkey/mod.ts";
import { adminPages } from "./pages/admin.tsx";
import { folderPages } from "./pages/folders.tsx";
import { keyPages } from "./keys/page.tsx";
import { loginPages } from "./pages/login.tsx";
import { remoteSitesPages } from "./remote_login/page.tsx";
import { page } from "./ui/render.tsx";
import { sqlDoorPages } from "./sql/page.tsx";
import { COPY_KEY_SCRIPT, STYLESHEET } from "./ui/style.ts";
import { opsRoutes, type ReadinessCheck } from "./ops.ts";
import { remoteLoginDoor, remoteLoginError } from "./remote_login/mod.ts";
import { securityHeaders } from "./security_headers.ts";
import { tokenPages } from "./tokens/page.tsx";
import { tokenRoutes } from "./tokens/mod.ts";

interface AppOptions {
  /** Where one JSON line per request goes (stdout in production); nothing when absent. */
  log?: (line: Record<string, unknown>) => void;
  /** Readiness checks main.ts adds to /readyz's own (the SQL door listening). */
  readiness?: Record<string, ReadinessCheck>;
}

/**
 * Paths a signed-in user who must change a one-time password may still reach:
 * the change itself, signing out, and the API's description, which says how.
 */
const PASSWORD_CHANGE_PATHS = [
  "/account",
  "/logout",
  "/static/",
  "/api/me",
  "/api/logout",
  "/api/openapi.json",
  "/api/docs",
];

/** What an API call made with a one-time password answers: the call to make instead. */
function passwordChangeFirst(): LabgateError {
  return new LabgateError(
    403,
    "Change your one-time password first: POST /api/me/password with " +
      '{"currentPassword": "…", "newPassword": "…"} (and the X-CSRF-Token header, the csrfToken ' +
      "of the login answer); then this call works",
    {
      call: {
        method: "POST",
        path: "/api/me/password",
        body: { currentPassword: "string", newPassword: "string" },
      },
    },
  );
}

const STATIC_FILES = [
  ["/static/style.css", "text/css", STYLESHEET],
  ["/static/copy_key.js", "text/javascript", COPY_KEY_SCRIPT],
] as const;

/** The route pattern that answered (`/api/lists/:id`), for metrics; middleware is `ALL`. */
function handlerRoute(c: AppContext): string {
  // After the chain ran, routeIndex is the last handler reached: the one that answered.
  const handler = matchedRoutes(c)[c.req.routeIndex];
  return handler && handler.method !== "ALL" ? handler.path : "unmatched";
}

function isApi(c: AppContext): boolean {
  return c.req.path.startsWith("/api/") || c.req.path === "/api" ||
    c.req.path.startsWith("/actions/");
}

/** One place that turns an error into a response: JSON for the API, a page otherwise. */
async function renderError(error: unknown, c: AppContext): Promise<Response> {
  let status = 500;
  let message = "Something went wrong on the server; it has been logged";
  let details: unknown;
  const refusal = databaseRefusal(error);
  if (error instanceof LabgateError) {
    ({ status, message, details } = error);
  } else if (refusal) {
    ({ status, message } = refusal);
  } else if (isDatabaseUnavailable(error)) {
    // Passes by itself once the database is back: a warning, not a stack trace per request.
    console.error(JSON.stringify({
      level: "warn",
      path: c.req.path,
      message: DATABASE_UNAVAILABLE,
      error: (error as Error).message,
    }));
    status = 503;
    message = DATABASE_UNAVAILABLE;
  } else if (error instanceof HTTPException) {
    status = error.status;
    message = error.status === 413 ? "The request body is too large" : error.message || message;
  } else {
    console.error(JSON.stringify({
      level: "error",
      path: c.req.path,
      error: String((error as Error)?.stack ?? error),
    }));
  }
  if (labkeyAction(c.req.path)) return c.json(errorBody(status, message), status as 400);
  if (isApi(c)) {
    return c.json({ error: { status, message, ...(details ? { details } : {}) } }, status as 400);
  }
  const xml = remoteLoginError(c, status, message);
  if (xml) return xml;
  if (status === 401) {
    return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
  }
  return await page(c, { title: "Error", error: message }, status as 400);
}

/**
 * Bodies read as text. CSV and TSV are left to the importer, which names the
 * row and column; so are files in multipart forms.
 */
const TEXT_BODY = /^(application\/json|text\/(?!csv|tab-separated-values))/i;

/**
 * A JSON or text body with bytes that are not UTF-8 is refused before any
 * route reads it, rather than have the decoder put U+FFFD in their place and
 * store that. Hono keeps the bytes read here for the route.
 */
const strictUtf8Body: MiddlewareHandler<Env> = async (c, next) => {
  if (c.req.raw.body && TEXT_BODY.test(c.req.header("content-type") ?? "")) {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(await c.req.arrayBuffer());
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      throw new LabgateError(400, "The request body is not valid UTF-8: send it encoded as UTF-8");
    }
  }
  await next();
};

export function createApp(svc: Services, options: AppOptions = {}): Hono<Env> {
  const app = new Hono<Env>();

  app.use("*", async (c, next) => {
    const started = performance.now();
    c.set("svc", svc);
    await next();
    const ms = performance.now() - started;
    const request = { door: c.get("door") ?? "web", method: c.req.method, route: handlerRoute(c) };
    svc.metrics.observeRequest(request, c.res.status, ms);
    options.log?.({
      time: new Date().toISOString(),
      level: "info",
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(ms * 10) / 10,
      principal: c.get("actor")?.userId ?? null,
    });
  });

  app.use("*", securityHeaders);
  app.route("/", opsRoutes(options.readiness));
  for (const [path, type, body] of STATIC_FILES) {
    app.get(path, (c) =>
      c.body(body, 200, {
        "content-type": `${type}; charset=utf-8`,
        "cache-control": "public, max-age=3600",
      }));
  }

  app.use(
    "*",
    bodyLimit({
      maxSize: svc.config.maxBodyBytes,
      onError: () => {
        throw new LabgateError(
          413,
          `The request body is larger than the ${
            shownBytes(svc.config.maxBodyBytes)
          } labgate accepts (LABGATE_MAX_BODY_BYTES): send less at a time, e.g. split a file to import`,
        );
      },
    }),
  );
  app.use("*", strictUtf8Body);
  app.use("*", keyUseAudit);
  app.use("/api/*", withActor("api"));
  app.use("/actions/*", withActor("token"));
  app.use("*", async (c, next) => {
    // LabKey-style query URLs are API calls (keys and tokens welcome); the rest are pages.
    if (!c.get("door")) return await withActor(labkeyAction(c.req.path) ? "api" : "web")(c, next);
    await next();
  });
  app.use("*", csrfProtection);
  app.use("*", async (c, next) => {
    const actor = c.get("actor");
    if (actor?.mustChangePassword && !PASSWORD_CHANGE_PATHS.some((p) => c.req.path.startsWith(p))) {
      if (isApi(c) || labkeyAction(c.req.path)) {
        throw passwordChangeFirst();
      }
      return c.redirect(`/account?next=${encodeURIComponent(c.req.path)}`, 303);
    }
    await next();
  });

  app.get("/", (c) => c.redirect(c.get("actor") ? "/folders" : "/login", 303));
  app.route("/", loginPages());
  app.route("/", remoteLoginDoor());
  app.route("/", folderPages());
  app.route("/", adminPages());
  app.route("/", sqlDoorPages());
  app.route("/", remoteSitesPages());
  app.route("/", keyPages());
  app.route("/", tokenRoutes());
  app.route("/", tokenPages());
  app.route("/", apiApp());
  app.route("/", labkeyApp());

  app.notFound(async (c) => {
    if (isApi(c)) return c.json({ error: { status: 404, message: "No such API endpoint" } }, 404);
    return await page(c, { title: "Not found", error: "This page does not exist" }, 404);
  });
  app.onError((error, c) => renderError(error, c));
  return app;
}
