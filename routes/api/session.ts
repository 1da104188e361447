/** /api/login, /api/logout and /api/me: a script's session and its one-time password. */
import { setCookie } from "hono/cookie";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { checkDeclarations } from "../../src/auth/compliance.ts";
import { checkPasswordLogin } from "../../src/auth/login.ts";
import { createSession, SESSION_COOKIE } from "../../src/data/sessions.ts";
import { changeOwnPassword, getUser, userView } from "../../src/data/users.ts";
import type { User } from "../../src/db/schema.ts";
import { badRequest } from "../../src/errors.ts";
import type { Services } from "../../src/services.ts";
import { parseVerifier, verifyPassword } from "../../src/security/scram.ts";
import { endLogin, sessionCookieOptions } from "../http/session_cookie.ts";
import { clientAddr, type Env, requireActor } from "../http/context.ts";
import * as S from "../http/schemas.ts";
import { ANONYMOUS, body, Empty, errors, json, route } from "../http/schemas.ts";
import { userJson } from "./users.ts";

/** Who is signed in, and what they must do first. */
async function meJson(svc: Services, user: User, csrfToken: string | null) {
  return {
    user: userJson(userView(user)),
    siteAdmin: await svc.permissions.isSiteAdmin(user.id),
    passwordChangeRequired: user.must_change_password,
    csrfToken,
  };
}

export function registerSessionApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "post",
      path: "/login",
      operationId: "login",
      tags: ["Session"],
      summary: "Sign in with email and password; sets the session cookie",
      description: "Keep the cookie and send `csrfToken` as `X-CSRF-Token` on writes. With " +
        "`passwordChangeRequired` (a one-time password) call `POST /api/me/password` first.",
      security: ANONYMOUS,
      request: body(S.Login),
      responses: {
        200: json(S.Me, "Signed in"),
        ...errors,
        429: json(S.ErrorBody, "Too many failures"),
      },
    }),
    async (c) => {
      const svc = c.get("svc");
      const input = c.req.valid("json");
      const compliance = await checkDeclarations(svc, input.compliance);
      const user = await checkPasswordLogin(svc, {
        email: input.email,
        password: input.password,
        clientAddr: clientAddr(c),
        door: "api",
      });
      const { cookie, session } = await createSession(svc, {
        userId: user.id,
        clientAddr: clientAddr(c),
        userAgent: c.req.header("user-agent"),
        compliance,
      });
      setCookie(c, SESSION_COOKIE, cookie, sessionCookieOptions(c));
      svc.audit.record({
        door: "api",
        event: "login",
        outcome: "ok",
        userId: user.id,
        userEmail: user.email,
        credential: { kind: "session", id: session.id },
        compliance: compliance as Record<string, unknown> | null,
        clientAddr: clientAddr(c),
      });
      return c.json(await meJson(svc, user, session.csrf_token), 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/logout",
      operationId: "logout",
      tags: ["Session"],
      summary: "End the session behind the cookie",
      responses: { 200: json(Empty, "Signed out"), ...errors },
    }),
    async (c) => {
      const actor = requireActor(c);
      if (actor.session) await endLogin(c, actor.session.id);
      return c.json({}, 200);
    },
  );

  api.openapi(
    route({
      method: "get",
      path: "/me",
      operationId: "getMe",
      tags: ["Session"],
      summary: "Who am I",
      responses: { 200: json(S.Me, "The signed-in user"), ...errors },
    }),
    async (c) => {
      const actor = requireActor(c);
      const svc = c.get("svc");
      const user = (await getUser(svc, actor.userId))!;
      return c.json(await meJson(svc, user, actor.session?.csrfToken ?? null), 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/me/password",
      operationId: "changeMyPassword",
      tags: ["Session"],
      summary: "Change your own password (first, after signing in with a one-time password)",
      description: "Ends your other sessions; this one stays signed in.",
      request: body(S.PasswordChange),
      responses: { 200: json(Empty, "Changed"), ...errors },
    }),
    async (c) => {
      const actor = requireActor(c);
      const svc = c.get("svc");
      const input = c.req.valid("json");
      const user = (await getUser(svc, actor.userId))!;
      if (
        !user.password_verifier ||
        !await verifyPassword(parseVerifier(user.password_verifier), input.currentPassword)
      ) {
        throw badRequest("Your current password is not right");
      }
      await changeOwnPassword(svc, actor, { newPassword: input.newPassword });
      return c.json({}, 200);
    },
  );
}
