/**
 * Headers every answer carries. Pages have no inline script or style, so the
 * policy can forbid both: an injected `<script>` or `onclick` does nothing
 * even if escaping were ever missed. Answers are not cached unless the route
 * says otherwise (the stylesheet and script are public), since most carry a
 * user's data or a CSRF token.
 */
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { cameOverHttps, type Env } from "./http/context.ts";

const HSTS = "max-age=31536000; includeSubDomains";

const standardHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: "DENY",
  referrerPolicy: "same-origin",
  // HSTS only means something on an answer that came over TLS (set below).
  strictTransportSecurity: false,
  // Remote-login sites and browsers of other origins never embed labgate's answers.
  crossOriginResourcePolicy: "same-origin",
});

export const securityHeaders: MiddlewareHandler<Env> = async (c, next) => {
  await standardHeaders(c, async () => {
    await next();
    if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
    if (cameOverHttps(c)) c.res.headers.set("strict-transport-security", HSTS);
  });
};
