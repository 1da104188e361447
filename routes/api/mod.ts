/**
 * The JSON API under /api: everything the pages do, for admins who script
 * setup. Validated with zod; the OpenAPI document is served at
 * /api/openapi.json and read at /api/docs. Session-cookie calls send the
 * CSRF token in X-CSRF-Token; keys and tokens (other doors) need none.
 * Each resource registers its routes from its own file.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { type AppContext, cameOverHttps, type Env } from "../http/context.ts";
import { registerAuditApi } from "./audit.ts";
import { registerApiDocs } from "./docs.ts";
import { registerFolderApi } from "./folders.ts";
import { registerKeyApi } from "../keys/api.ts";
import { registerListApi } from "./lists.ts";
import { registerRowApi } from "./rows.ts";
import { SECURITY_SCHEMES } from "../http/schemas.ts";
import { registerSessionApi } from "./session.ts";
import { registerSiteApi } from "./site.ts";
import { registerTokenApi } from "../tokens/api.ts";
import { registerUserApi } from "./users.ts";

/** Where the API lives; the document's paths include it, so they are the URLs to call. */
const API_BASE = "/api";

const DESCRIPTION = `Folders, users, groups, role assignments, lists and rows; API keys,
external apps and token requests.

**Signing in.** \`POST /api/login\` with \`{"email", "password"}\` sets the session cookie and
answers \`csrfToken\`: send it as \`X-CSRF-Token\` on every POST, PUT, PATCH and DELETE made with
the cookie. When the answer says \`passwordChangeRequired\` (a one-time password), every other call
answers 403 until \`POST /api/me/password\` with \`{"currentPassword", "newPassword"}\`. Scripts can
instead send an API key (HTTP Basic user \`apikey\`, or the \`apikey\` header) or an auth token
(\`Authorization: Token …\`), which need no CSRF token.

**Values.** Rows are JSON objects of column name to value: Text, UUID as strings; Integer as
numbers (BigInteger beyond 2^53 as a string); Double as numbers; **Decimal as a string that keeps
its digits and scale** (\`"12.50"\`); Boolean; Date as \`YYYY-MM-DD\`; DateTime (no time zone) as
\`YYYY-MM-DDTHH:MM:SS[.ffffff]\`; Timestamp as ISO 8601 in UTC, \`YYYY-MM-DDTHH:MM:SS[.ffffff]Z\`;
JSON as JSON. Writes accept the same forms (and numbers for Decimal).

**Errors** are \`{"error": {"status", "message", "details"}}\`; \`details.errors\` names every
refused value by row and column, \`details.issues\` every invalid request field.`;

/** This site's origin as the caller reached it (https when a trusted proxy says so). */
function siteOrigin(c: AppContext): string {
  const url = new URL(c.req.url);
  if (cameOverHttps(c)) url.protocol = "https:";
  return url.origin;
}

export function apiApp(): OpenAPIHono<Env> {
  const api = new OpenAPIHono<Env>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({
          path: i.path.join("."),
          message: i.message,
        }));
        const first = issues[0];
        return c.json({
          error: {
            status: 400,
            message: `Invalid request: ${first.path ? `${first.path}: ` : ""}${first.message}`,
            details: { issues },
          },
        }, 400);
      }
    },
  }).basePath(API_BASE);

  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) {
    api.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
  }
  registerSessionApi(api);
  registerFolderApi(api);
  registerListApi(api);
  registerRowApi(api);
  registerUserApi(api);
  registerAuditApi(api);
  registerKeyApi(api);
  registerTokenApi(api);
  registerSiteApi(api);

  api.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: { title: "labgate API", version: "1", description: DESCRIPTION },
    // The paths are absolute: the server is the site itself.
    servers: [{ url: c.get("svc").config.baseUrl ?? siteOrigin(c) }],
    tags: [
      { name: "Session", description: "Sign in and out, who am I, change your password" },
      { name: "Folders", description: "The folder tree and role assignments" },
      { name: "Lists", description: "Typed tables in a folder" },
      { name: "Rows", description: "A list's rows: read, write, import, export" },
      { name: "Users", description: "Accounts (site admins)" },
      { name: "Groups", description: "Groups and members (site admins)" },
      { name: "Audit", description: "The audit log (site admins)" },
      { name: "Keys", description: "API keys and session keys" },
      { name: "Auth tokens", description: "External apps and their auth tokens" },
    ],
  }));
  registerApiDocs(api);
  return api;
}
