/** Request and response shapes of the JSON API, used for validation and the OpenAPI document. */
import { createRoute, type RouteConfig, z } from "@hono/zod-openapi";
import { SESSION_COOKIE } from "../../src/data/sessions.ts";
import { COLUMN_TYPES } from "../../src/data/column_types.ts";
import { COLUMN_PHI_LEVELS, DECLARED_PHI_LEVELS } from "../../src/security/phi.ts";
import { ROLES } from "../../src/security/permissions.ts";

/** A JSON response of `schema`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

/** A required JSON request body of `schema`. */
export const body = <T extends z.ZodType>(schema: T) => ({
  body: { content: { "application/json": { schema } }, required: true },
});

export const ErrorDetails = z.object({
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional().openapi({
    description:
      "Request validation: each field that is wrong (path is dotted, e.g. columns.0.type)",
  }),
  errors: z.array(z.object({
    row: z.number().int().openapi({
      description: "1-based: the data row of an import (header not counted), or the index in rows",
    }),
    column: z.string().optional(),
    message: z.string(),
  })).optional().openapi({
    description: "Row writes and imports: every refused value by row and column (at most 100)",
  }),
  call: z.object({ method: z.string(), path: z.string(), body: z.record(z.string(), z.string()) })
    .optional().openapi({ description: "The call to make first (a one-time password's change)" }),
}).openapi("ErrorDetails");

export const ErrorBody = z.object({
  error: z.object({
    status: z.number().int(),
    message: z.string(),
    details: ErrorDetails.optional(),
  }),
}).openapi("Error");

export const Permissions = z.object({
  bits: z.number().int().openapi({ description: "READ=1 INSERT=2 UPDATE=4 DELETE=8 ADMIN=32768" }),
  names: z.array(z.string()),
}).openapi("Permissions");

export const Folder = z.object({
  id: z.number().int(),
  path: z.string().openapi({ example: "/home/assays" }),
  name: z.string(),
  parentId: z.number().int().nullable(),
  description: z.string(),
  inheritPolicy: z.boolean(),
  permissions: Permissions,
}).openapi("Folder");

export const NewFolder = z.object({
  parent: z.string().openapi({ example: "/home" }),
  name: z.string().openapi({ example: "assays" }),
  description: z.string().optional(),
  inheritPolicy: z.boolean().optional().openapi({ description: "Default true" }),
}).openapi("NewFolder");

export const Assignment = z.object({
  principalId: z.number().int(),
  role: z.enum(Object.keys(ROLES) as [string, ...string[]]),
});

export const Policy = z.object({
  folder: z.string(),
  source: z.string().openapi({ description: "The folder whose assignments apply" }),
  inherit: z.boolean(),
  assignments: z.array(z.object({
    principalId: z.number().int(),
    kind: z.enum(["user", "group"]),
    name: z.string(),
    role: z.string(),
  })),
}).openapi("Policy");

export const PolicyInput = z.object({
  inherit: z.boolean(),
  assignments: z.array(Assignment),
}).openapi("PolicyInput");

export const ColumnType = z.enum(Object.keys(COLUMN_TYPES) as [string, ...string[]]);

export const PhiLevel = z.enum(COLUMN_PHI_LEVELS).openapi("PhiLevel", {
  description: "Who may see the column: requests whose PHI level in force is at least this " +
    "(not_phi < limited < full); restricted columns are shown through no door. The key is not_phi.",
});

export const DeclaredPhiLevel = z.enum(DECLARED_PHI_LEVELS).openapi("DeclaredPhiLevel", {
  description: "A PHI level in force for a request: not_phi < limited < full",
});

export const ListColumn = z.object({
  name: z.string(),
  type: ColumnType,
  required: z.boolean().optional(),
  description: z.string().optional(),
  phi: PhiLevel.optional().openapi({ description: "Default not_phi" }),
}).openapi("ListColumn");

const preview = z.boolean().optional().openapi({ description: "Only say what it would do" });

export const DesignChange = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("add"), column: ListColumn, preview }),
  z.object({ kind: z.literal("rename"), column: z.string(), to: z.string(), preview }),
  z.object({ kind: z.literal("drop"), column: z.string(), preview }),
  z.object({ kind: z.literal("phi"), column: z.string(), phi: PhiLevel, preview }),
  z.object({
    kind: z.literal("describe"),
    column: z.string().optional().openapi({ description: "Absent: the list's description" }),
    description: z.string(),
    preview,
  }),
]).openapi("DesignChange");

export const NewList = z.object({
  name: z.string().openapi({ example: "samples" }),
  description: z.string().optional(),
  key: z.string().openapi({ description: "Key column name", example: "SampleId" }),
  autoKey: z.boolean().optional().openapi({
    description: "Add an Integer key column numbered by the database",
  }),
  columns: z.array(ListColumn).min(1),
}).openapi("NewList");

export const DesignPreview = z.object({
  effects: z.array(z.string()),
  valuesLost: z.number().int(),
  rows: z.number().int(),
}).openapi("DesignPreview");

export const List = z.object({
  id: z.number().int(),
  folder: z.string(),
  name: z.string(),
  description: z.string(),
  key: z.string(),
  autoKey: z.boolean(),
  columns: z.array(z.object({
    name: z.string(),
    type: z.string(),
    required: z.boolean(),
    description: z.string(),
    phi: PhiLevel,
  })),
}).openapi("List");

export const DesignResult = z.object({
  preview: DesignPreview,
  list: List.optional().openapi({ description: "The list after the change (absent on a preview)" }),
}).openapi("DesignResult");

export const Row = z.record(z.string(), z.unknown()).openapi("Row", {
  description: 'Column name to value. Decimal: a string that keeps its scale ("12.50"); ' +
    "Date: YYYY-MM-DD; DateTime: YYYY-MM-DDTHH:MM:SS; Timestamp: ISO 8601 in UTC (…Z); " +
    "BigInteger beyond 2^53: a string. Send a Decimal as a string to keep its scale.",
});
export const Rows = z.object({ rows: z.array(Row) }).openapi("Rows");
export const RowPage = z.object({
  rows: z.array(Row),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
}).openapi("RowPage");
export const Keys = z.object({ keys: z.array(z.unknown()).min(1) }).openapi("Keys");
export const ImportInput = z.object({
  text: z.string(),
  format: z.enum(["csv", "tsv"]).optional(),
}).openapi("ImportInput");

export const User = z.object({
  id: z.number().int(),
  email: z.string(),
  displayName: z.string(),
  department: z.string(),
  active: z.boolean(),
  userType: z.enum(["normal", "app"]),
  externalAppId: z.string().nullable(),
  hasPassword: z.boolean(),
  createdAt: z.string(),
  lastLoginAt: z.string().nullable(),
  statementTimeoutSeconds: z.number().int().nullable().openapi({
    description: "The user's own statement time limit (seconds); null: the site's",
  }),
}).openapi("User");

export const NewUser = z.object({
  email: z.string(),
  displayName: z.string().optional(),
  department: z.string().optional(),
  userType: z.enum(["normal", "app"]).optional(),
  externalAppId: z.string().nullable().optional(),
  password: z.string().optional(),
  active: z.boolean().optional(),
}).openapi("NewUser");

export const UserUpdate = NewUser.extend({
  statementTimeoutSeconds: z.number().int().nullable().optional().openapi({
    description: "Statements of this user may run this long (1–86400 s) on every door; " +
      "null: the site's limit (sql_door statementTimeoutSeconds)",
  }),
}).partial().openapi("UserUpdate");

export const Group = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string(),
  members: z.array(z.object({ id: z.number().int(), email: z.string(), displayName: z.string() })),
}).openapi("Group");

export const NewGroup = z.object({
  name: z.string(),
  description: z.string().optional(),
}).openapi("NewGroup");

export const Login = z.object({
  email: z.string(),
  password: z.string(),
  compliance: z.object({
    termsAccepted: z.boolean().optional(),
    irbNumber: z.string().optional(),
    phiLevel: z.enum(["none", "limited", "full"]).optional(),
  }).optional().openapi({
    description: "Declarations, when the site requires them at login (GET /admin/compliance)",
  }),
}).openapi("Login");

export const Me = z.object({
  user: User,
  siteAdmin: z.boolean(),
  passwordChangeRequired: z.boolean().openapi({
    description: "A one-time password: every other call answers 403 until POST /api/me/password",
  }),
  csrfToken: z.string().nullable().openapi({
    description: "Send as X-CSRF-Token on state-changing requests made with the session cookie",
  }),
}).openapi("Me");

export const IdParam = z.object({
  id: z.coerce.number().int().openapi({ param: { name: "id", in: "path", required: true } }),
});

export const Empty = z.object({}).openapi("Empty");

export const PasswordChange = z.object({
  currentPassword: z.string(),
  newPassword: z.string(),
}).openapi("PasswordChange");

export const errors = {
  400: json(ErrorBody, "Invalid request"),
  401: json(ErrorBody, "Not signed in"),
  403: json(ErrorBody, "Not allowed (or a one-time password to change first)"),
  404: json(ErrorBody, "Not found, or not visible to you"),
  413: json(ErrorBody, "Request body too large"),
  500: json(ErrorBody, "Server error (logged)"),
};

/** How callers prove who they are, as the OpenAPI document declares them. */
export const SECURITY_SCHEMES = {
  session: {
    type: "apiKey",
    in: "cookie",
    name: SESSION_COOKIE,
    description: "The session cookie POST /api/login sets; writes with it also need csrf",
  },
  csrf: {
    type: "apiKey",
    in: "header",
    name: "X-CSRF-Token",
    description: "The csrfToken of the login answer (or GET /api/me), sent with the session " +
      "cookie on POST, PUT, PATCH and DELETE",
  },
  apiKey: {
    type: "http",
    scheme: "basic",
    description: "HTTP Basic with user name apikey and an API key (lgk_<id>.<secret>) as the " +
      "password (curl -u apikey:$KEY); no CSRF token",
  },
  apiKeyHeader: {
    type: "apiKey",
    in: "header",
    name: "apikey",
    description: "An API key or session key in the apikey header; no CSRF token",
  },
  sessionKey: {
    type: "http",
    scheme: "basic",
    description: "HTTP Basic with user name apikey and a session key (lgs_<id>.<secret>), " +
      "which works while the browser session that made it lasts (also in the apikey header)",
  },
  token: {
    type: "apiKey",
    in: "header",
    name: "Authorization",
    description: "An external app's auth token: Authorization: Token lgt_<id>.<secret>",
  },
  appUserPassword: {
    type: "http",
    scheme: "basic",
    description: "An external app user's email and password",
  },
} as const;

type SecurityRequirements = Partial<Record<keyof typeof SECURITY_SCHEMES, string[]>>[];

const KEYS_AND_TOKENS: SecurityRequirements = [
  { apiKey: [] },
  { apiKeyHeader: [] },
  { sessionKey: [] },
  { token: [] },
];
/** Reads: the session cookie alone, or any key or token. */
const READ_CALLERS: SecurityRequirements = [{ session: [] }, ...KEYS_AND_TOKENS];
/** Writes: the session cookie with its CSRF token, or any key or token. */
const WRITE_CALLERS: SecurityRequirements = [{ session: [], csrf: [] }, ...KEYS_AND_TOKENS];
/** Calls only a signed-in browser session (cookie + CSRF token) may make. */
export const SESSION_ONLY: SecurityRequirements = [{ session: [], csrf: [] }];
/** Calls anyone may make. */
export const ANONYMOUS: SecurityRequirements = [];

/**
 * A route of the JSON API: a stable operationId (generated clients' method
 * names) and, unless it says otherwise, the credentials its method accepts.
 */
export const route = <
  P extends string,
  R extends Omit<RouteConfig, "path"> & { path: P; operationId: string },
>(config: R) =>
  createRoute({
    ...config,
    security: config.security ?? (config.method === "get" ? READ_CALLERS : WRITE_CALLERS),
  });

export const ApiKey = z.object({
  id: z.string().openapi({ description: "Public id: 16 hex digits", example: "0123456789abcdef" }),
  kind: z.enum(["api_key", "session_key"]),
  userId: z.number().int(),
  userEmail: z.string(),
  description: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  status: z.enum(["active", "expired", "revoked", "session ended"]),
  phiLevel: DeclaredPhiLevel.nullable().openapi({
    description: "An API key's PHI level; null for a session key (its session's declaration)",
  }),
  statementTimeoutSeconds: z.number().int().nullable().openapi({
    description: "The key's own statement time limit (seconds); null: its user's, else the site's",
  }),
}).openapi("ApiKey");

export const KeyLimits = z.object({
  statementTimeoutSeconds: z.number().int().nullable().openapi({
    description: "Statements made with this API key may run this long (1–86400 s) on every " +
      "door; null: the user's limit, else the site's",
  }),
}).openapi("KeyLimits");

export const NewApiKey = z.object({
  kind: z.enum(["api_key", "session_key"]),
  expiry: z.string().optional().openapi({
    description: "API keys only: one the site allows (1w, 1m, 3m, 6m, 1y, never)",
    example: "1m",
  }),
  description: z.string().optional(),
  phiLevel: DeclaredPhiLevel.optional().openapi({
    description: "API keys only: the PHI level in force for the key's requests; default and " +
      "at most the session's declared level",
  }),
}).openapi("NewApiKey");

export const CreatedApiKey = ApiKey.extend({
  key: z.string().openapi({
    description: "The whole key, shown this once: lgk_<id>.<secret> or lgs_<id>.<secret>",
  }),
}).openapi("CreatedApiKey");

export const KeyIdParam = z.object({
  id: z.string().openapi({
    param: { name: "id", in: "path", required: true },
    example: "0123456789abcdef",
  }),
});

export const ExternalApp = z.object({
  id: z.string(),
  description: z.string(),
  status: z.enum(["active", "disabled"]),
  entryPoints: z.array(z.enum(["rest", "sql", "action"])),
  restReadOnly: z.boolean(),
  restPaths: z.array(z.string()),
  defaultExpiryDays: z.number().int(),
  phiLevel: DeclaredPhiLevel,
  builtIn: z.boolean(),
}).openapi("ExternalApp");

export const AppInput = z.object({
  id: z.string().optional().openapi({
    description: "Lower-case id (on create)",
    example: "plate-reader",
  }),
  description: z.string().optional(),
  status: z.enum(["active", "disabled"]).optional(),
  entryPoints: z.array(z.enum(["rest", "sql", "action"])).optional(),
  restReadOnly: z.boolean().optional(),
  restPaths: z.array(z.string()).optional().openapi({
    description: "Allowed REST path patterns (* matches anything); empty allows all",
  }),
  defaultExpiryDays: z.number().int().optional(),
  phiLevel: DeclaredPhiLevel.optional().openapi({
    description: "The PHI level in force for the app's tokens and accounts; default not_phi",
  }),
}).openapi("AppInput");

export const TokenInput = z.object({
  description: z.string().optional(),
  appId: z.string().optional(),
  appUserId: z.number().int().optional(),
  status: z.enum(["pending", "disabled", "active", "expired"]).optional(),
  expiresAt: z.string().datetime({ offset: true }).optional(),
  processAs: z.enum(["never", "any", "specific", "department", "role"]).optional(),
  processAsTarget: z.string().optional().openapi({
    description: "Email (specific), department (department) or role name (role)",
  }),
  permitted: z.enum(["full", "restricted", "roles"]).optional(),
  actions: z.array(z.string()).optional(),
}).openapi("TokenInput");

export const AuthToken = z.object({
  id: z.string(),
  appId: z.string(),
  appUser: z.string().optional(),
  status: z.enum(["pending", "disabled", "active", "expired"]),
  description: z.string(),
  expiresAt: z.string(),
  token: z.string().optional().openapi({ description: "lgt_<id>.<secret>: only when created" }),
}).openapi("AuthToken");

export const AppIdParam = z.object({
  id: z.string().openapi({
    param: { name: "id", in: "path", required: true },
    example: "plate-reader",
  }),
});

export const TokenRequest = z.object({
  reason: z.string().optional().openapi({ example: "Nightly plate-reader upload" }),
  description: z.string().optional(),
}).openapi("TokenRequest");

export const RequestedToken = z.object({
  id: z.string(),
  token: z.string().openapi({ description: "lgt_<id>.<secret>, shown this once" }),
  status: z.literal("pending"),
  expiresAt: z.string(),
  message: z.string(),
}).openapi("RequestedToken");

export const AppDeleted = z.object({
  tokensDeleted: z.number().int().openapi({ description: "Its tokens, deleted with it" }),
}).openapi("AppDeleted");
