/**
 * The token door's JSON API: the request-token call external app users make
 * (HTTP Basic with their email and password), and for site admins the
 * external apps and auth tokens the admin pages manage.
 */
import type { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AuthToken, ExternalApp } from "../../src/db/schema.ts";
import { badRequest, unauthorized } from "../../src/errors.ts";
import { fromBase64 } from "../../src/security/secrets.ts";
import {
  allowsEntry,
  approveToken,
  createExternalApp,
  createToken,
  deleteExternalApp,
  ENTRY_POINTS,
  type EntryPoint,
  listApps,
  listTokens,
  requestToken,
  updateExternalApp,
  updateToken,
} from "../../src/doors/tokens/mod.ts";
import { clientAddr, type Env, requireActor } from "../http/context.ts";
import * as S from "../http/schemas.ts";
import { body, errors, json, route } from "../http/schemas.ts";

function appJson(app: ExternalApp) {
  return {
    id: app.id,
    description: app.description,
    status: app.status,
    entryPoints: (Object.keys(ENTRY_POINTS) as EntryPoint[]).filter((e) => allowsEntry(app, e)),
    restReadOnly: app.rest_read_only,
    restPaths: app.rest_paths,
    defaultExpiryDays: app.default_expiry_days,
    phiLevel: app.phi_level as z.infer<typeof S.DeclaredPhiLevel>,
    builtIn: app.built_in,
  };
}

function tokenJson(token: AuthToken & { app_user_email?: string }, value?: string) {
  return {
    id: token.id,
    appId: token.app_id,
    appUser: token.app_user_email,
    status: token.status,
    description: token.description,
    expiresAt: token.expires_at.toISOString(),
    ...(value ? { token: value } : {}),
  };
}

/** A token change as the domain takes it: the expiry as a Date. */
function tokenInput(input: { expiresAt?: string } & Record<string, unknown>) {
  const { expiresAt, ...rest } = input;
  return { ...rest, ...(expiresAt ? { expiresAt: new Date(expiresAt) } : {}) };
}

/** Email and password from `Authorization: Basic …`, or a 401 asking for them. */
function basicCredentials(header: string | undefined): { email: string; password: string } {
  const encoded = /^Basic\s+(\S+)$/i.exec(header ?? "")?.[1];
  if (!encoded) {
    throw unauthorized("Sign in with HTTP Basic: the external app user's email and password");
  }
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(fromBase64(encoded));
  } catch {
    decoded = "";
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) throw badRequest("The Basic credentials are not valid base64 of email:password");
  return { email: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function registerTokenApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "post",
      path: "/tokens/request",
      operationId: "requestToken",
      tags: ["Auth tokens"],
      summary: "An external app user asks for an auth token (HTTP Basic: its email and " +
        "password); it works once a site admin approves it",
      security: [{ appUserPassword: [] }],
      request: {
        body: {
          content: { "application/json": { schema: S.TokenRequest } },
          required: false,
        },
      },
      responses: {
        201: json(S.RequestedToken, "Pending approval: keep the token now"),
        ...errors,
        429: json(S.ErrorBody, "Too many failures"),
      },
    }),
    async (c) => {
      let credentials;
      try {
        credentials = basicCredentials(c.req.header("authorization"));
      } catch (error) {
        c.header("WWW-Authenticate", 'Basic realm="labgate"');
        throw error;
      }
      const input = await c.req.json().catch(() => ({})) as {
        reason?: unknown;
        description?: unknown;
      };
      const { token, value } = await requestToken(c.get("svc"), {
        ...credentials,
        reason: typeof input.reason === "string" ? input.reason : "",
        description: typeof input.description === "string" ? input.description : "",
        clientAddr: clientAddr(c),
      });
      return c.json({
        id: token.id,
        token: value,
        status: "pending" as const,
        expiresAt: token.expires_at.toISOString(),
        message: "Keep this value: it is shown once and works after a site admin approves it",
      }, 201);
    },
  );

  api.openapi(
    route({
      method: "get",
      path: "/external-apps",
      operationId: "listExternalApps",
      tags: ["Auth tokens"],
      summary: "Registered external apps (Site Admin)",
      responses: {
        200: json(S.ExternalApp.array().openapi("ExternalApps"), "Apps"),
        ...errors,
      },
    }),
    async (c) => c.json((await listApps(c.get("svc"), requireActor(c))).map(appJson), 200),
  );

  api.openapi(
    route({
      method: "delete",
      path: "/external-apps/{id}",
      operationId: "deleteExternalApp",
      tags: ["Auth tokens"],
      summary: "Delete an external app and its tokens (Site Admin); refused for built-in apps " +
        "and apps that still have user accounts",
      request: { params: S.AppIdParam },
      responses: {
        200: json(S.AppDeleted, "Deleted"),
        ...errors,
        409: json(S.ErrorBody, "The app still has user accounts"),
      },
    }),
    async (c) => {
      const { tokensDeleted } = await deleteExternalApp(
        c.get("svc"),
        requireActor(c),
        c.req.valid("param").id,
      );
      return c.json({ tokensDeleted }, 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/external-apps",
      operationId: "createExternalApp",
      tags: ["Auth tokens"],
      summary: "Register an external app (Site Admin)",
      request: body(S.AppInput),
      responses: { 201: json(S.ExternalApp, "Registered"), ...errors },
    }),
    async (c) => {
      const app = await createExternalApp(c.get("svc"), requireActor(c), c.req.valid("json"));
      return c.json(appJson(app), 201);
    },
  );

  api.openapi(
    route({
      method: "patch",
      path: "/external-apps/{id}",
      operationId: "updateExternalApp",
      tags: ["Auth tokens"],
      summary: "Change an external app: status, entry points, REST paths, expiry (Site Admin)",
      request: { params: S.AppIdParam, ...body(S.AppInput) },
      responses: { 200: json(S.ExternalApp, "Changed"), ...errors },
    }),
    async (c) => {
      const app = await updateExternalApp(
        c.get("svc"),
        requireActor(c),
        c.req.valid("param").id,
        c.req.valid("json"),
      );
      return c.json(appJson(app), 200);
    },
  );

  api.openapi(
    route({
      method: "get",
      path: "/tokens",
      operationId: "listTokens",
      tags: ["Auth tokens"],
      summary: "Every auth token, pending ones first (Site Admin); never their secrets",
      responses: { 200: json(S.AuthToken.array().openapi("AuthTokens"), "Tokens"), ...errors },
    }),
    async (c) => {
      const tokens = await listTokens(c.get("svc"), requireActor(c));
      return c.json(tokens.map((t) => tokenJson(t)), 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/tokens",
      operationId: "createToken",
      tags: ["Auth tokens"],
      summary: "Make an auth token for an app user (Site Admin); the value is shown once",
      request: body(S.TokenInput),
      responses: { 201: json(S.AuthToken, "Made"), ...errors },
    }),
    async (c) => {
      const { token, value } = await createToken(
        c.get("svc"),
        requireActor(c),
        tokenInput(c.req.valid("json")),
      );
      c.header("cache-control", "no-store");
      return c.json(tokenJson(token, value), 201);
    },
  );

  api.openapi(
    route({
      method: "patch",
      path: "/tokens/{id}",
      operationId: "updateToken",
      tags: ["Auth tokens"],
      summary: "Change a token: status, expiry, process-as, permitted actions (Site Admin)",
      request: { params: S.AppIdParam, ...body(S.TokenInput) },
      responses: { 200: json(S.AuthToken, "Changed"), ...errors },
    }),
    async (c) => {
      const token = await updateToken(
        c.get("svc"),
        requireActor(c),
        c.req.valid("param").id,
        tokenInput(c.req.valid("json")),
      );
      return c.json(tokenJson(token), 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/tokens/{id}/approve",
      operationId: "approveToken",
      tags: ["Auth tokens"],
      summary: "Approve a pending token: it becomes active (Site Admin)",
      request: { params: S.AppIdParam },
      responses: { 200: json(S.AuthToken, "Approved"), ...errors },
    }),
    async (c) => {
      const token = await approveToken(c.get("svc"), requireActor(c), c.req.valid("param").id);
      return c.json(tokenJson(token), 200);
    },
  );
}
