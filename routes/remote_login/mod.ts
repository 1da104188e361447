/**
 * The remote-login door: createToken.view (browser), verifyToken.view
 * (server to server, XML) and invalidateToken.view (either).
 */
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { badRequest } from "../../src/errors.ts";
import {
  checkReturnUrl,
  createToken,
  invalidateToken,
  TOKEN_PARAM,
  verifyLimiter,
  verifyToken,
  withToken,
} from "../../src/doors/remote_login/mod.ts";
import { remoteLoginSettings } from "../../src/doors/remote_login/settings.ts";
import { type AppContext, clientAddr, type Env } from "../http/context.ts";

/** Escapes an attribute value; characters XML 1.0 cannot hold become U+FFFD. */
export function escapeXmlAttribute(value: string): string {
  return value
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "\uFFFD")
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD")
    .replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&apos;")
    .replaceAll("\t", "&#9;").replaceAll("\n", "&#10;").replaceAll("\r", "&#13;");
}

/** A `<TokenAuthentication …/>` answer. */
function tokenXml(
  c: AppContext,
  attributes: Record<string, string>,
  status = 200,
): Response {
  const text = Object.entries(attributes).map(([k, v]) => `${k}="${escapeXmlAttribute(v)}"`)
    .join(" ");
  return c.body(
    `<?xml version="1.0" encoding="UTF-8"?>\n<TokenAuthentication ${text}/>\n`,
    status as ContentfulStatusCode,
    {
      "content-type": "text/xml; charset=utf-8",
      "cache-control": "no-store",
    },
  );
}

/** The XML answer for an error on an XML endpoint, or null when the request wants a page. */
export function remoteLoginError(c: AppContext, status: number, message: string): Response | null {
  const path = c.req.path;
  if (!path.startsWith("/login/")) return null;
  const xml = path.endsWith("/verifyToken.view") ||
    (path === "/login/invalidateToken.view" && c.req.query("returnUrl") === undefined);
  if (!xml) return null;
  return tokenXml(
    c,
    { success: "false", message },
    status === 429 || status === 400 ? status : 500,
  );
}

function tokenParam(c: AppContext): string {
  const token = c.req.query(TOKEN_PARAM);
  if (!token) throw badRequest(`The ${TOKEN_PARAM} parameter is missing`);
  return token;
}

export function remoteLoginDoor(): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/login/createToken.view", async (c) => {
    const svc = c.get("svc");
    const returnUrl = await checkReturnUrl(svc, c.req.query("returnUrl"));
    const actor = c.get("actor");
    if (!actor) {
      const here = new URL(c.req.url);
      return c.redirect(`/login?next=${encodeURIComponent(here.pathname + here.search)}`, 303);
    }
    const token = await createToken(svc, actor, returnUrl);
    return c.redirect(withToken(returnUrl, token, actor.email).href, 303);
  });

  const verify = async (c: AppContext, folderPath: string) => {
    const svc = c.get("svc");
    const { verifyPerMinute } = await svc.settings.get(remoteLoginSettings);
    const limiter = verifyLimiter(svc);
    const key = clientAddr(c) ?? "unknown";
    const waitMs = limiter.retryAfterMs(key, verifyPerMinute);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      c.header("retry-after", String(seconds));
      return tokenXml(c, {
        success: "false",
        message: `Too many verify requests from this address: try again in ${seconds} seconds`,
      }, 429);
    }
    limiter.hit(key);
    const result = await verifyToken(svc, {
      token: tokenParam(c),
      folderPath,
      clientAddr: clientAddr(c),
    });
    if (!result.success) return tokenXml(c, { success: "false", message: result.message });
    return tokenXml(c, {
      success: "true",
      token: tokenParam(c),
      email: result.email,
      permissions: String(result.bits),
      phiLevel: result.phiLevel,
    });
  };
  app.get("/login/verifyToken.view", (c) => verify(c, "/"));
  app.get("/login/:folder{.+}/verifyToken.view", (c) => verify(c, `/${c.req.param("folder")}`));

  app.get("/login/invalidateToken.view", async (c) => {
    const svc = c.get("svc");
    const given = c.req.query("returnUrl");
    const returnUrl = given === undefined ? null : await checkReturnUrl(svc, given);
    const done = await invalidateToken(svc, { token: tokenParam(c), clientAddr: clientAddr(c) });
    if (returnUrl) return c.redirect(returnUrl.href, 303);
    return done
      ? tokenXml(c, { success: "true" })
      : tokenXml(c, { success: "false", message: "Unknown or already invalidated token" });
  });

  return app;
}
