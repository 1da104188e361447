/**
 * /api/docs: an interactive reference of /api/openapi.json (Swagger UI),
 * served from the swagger-ui-dist package's own files, never a CDN. The
 * page has no inline script: its start-up script is a file of its own, so
 * the site's strict CSP stays as it is (Swagger UI sets styles through the
 * DOM, which `style-src 'self'` allows, and its icons are data: images).
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "../http/context.ts";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>labgate API reference</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/start.js"></script>
</body>
</html>
`;

/**
 * "Try it out" calls are same-origin, so they carry the session cookie; for
 * writes, give the csrf scheme the session's token under Authorize.
 */
const START = `SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#reference",
  deepLinking: true,
});
`;

/** The package's files, read on first request: most processes never serve the page. */
const ASSETS = {
  "swagger-ui.css": {
    type: "text/css",
    load: () => import("swagger-ui-dist/swagger-ui.css", { with: { type: "text" } }),
  },
  "swagger-ui-bundle.js": {
    type: "text/javascript",
    load: () => import("swagger-ui-dist/swagger-ui-bundle.js", { with: { type: "text" } }),
  },
} as const;

export function registerApiDocs(api: OpenAPIHono<Env>): void {
  api.get("/docs", (c) => c.html(PAGE));
  api.get(
    "/docs/start.js",
    (c) => c.body(START, 200, { "content-type": "text/javascript; charset=utf-8" }),
  );
  for (const [name, asset] of Object.entries(ASSETS)) {
    api.get(`/docs/${name}`, async (c) =>
      c.body((await asset.load()).default, 200, {
        "content-type": `${asset.type}; charset=utf-8`,
        "cache-control": "public, max-age=86400",
      }));
  }
}
