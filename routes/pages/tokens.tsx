/** Admin pages of the token door: External apps and Auth tokens. */
import { Hono } from "hono";
import type {
  AuthToken,
  ExternalApp,
  PermittedActions,
  ProcessAs,
  TokenStatus,
} from "../../src/db/schema.ts";
import { requireSiteAdmin } from "../../src/data/users.ts";
import { notFound } from "../../src/errors.ts";
import { ROLES } from "../../src/security/permissions.ts";
import {
  ACTIONS,
  type AppInput,
  approveToken,
  appUsers,
  createExternalApp,
  createToken,
  deleteExternalApp,
  ENTRY_POINTS,
  type EntryPoint,
  getApp,
  getToken,
  listApps,
  listTokens,
  PERMITTED,
  PROCESS_AS,
  TOKEN_STATUSES,
  type TokenInput,
  tokenSettings,
  updateExternalApp,
  updateToken,
} from "../../src/tokens/mod.ts";
import { getUser } from "../../src/data/users.ts";
import { type AppContext, type Env, requireActor } from "../context.ts";
import { CsrfField, PhiLevelSelect } from "./layout.tsx";
import { field, formError, page, redirectWith } from "./render.tsx";

type Form = Record<string, string | File | (string | File)[]>;
type FormError = ReturnType<typeof formError>;

async function adminOnly(c: AppContext) {
  const actor = requireActor(c);
  await requireSiteAdmin(c.get("svc"), actor);
  return actor;
}

function all(body: Form, name: string): string[] {
  const value = body[name];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === "string");
}

function appInput(body: Form): AppInput {
  return {
    id: field(body, "id"),
    description: field(body, "description"),
    status: field(body, "status") === "disabled" ? "disabled" : "active",
    entryPoints: all(body, "entry") as EntryPoint[],
    restReadOnly: field(body, "rest_read_only") === "on",
    restPaths: field(body, "rest_paths").split(/[\s,]+/),
    defaultExpiryDays: Number(field(body, "default_expiry_days")),
    phiLevel: field(body, "phi_level"),
  };
}

function tokenInput(body: Form): TokenInput {
  const expires = field(body, "expires_at");
  return {
    description: field(body, "description"),
    requestReason: field(body, "request_reason"),
    appId: field(body, "app") || undefined,
    appUserId: Number(field(body, "app_user")) || undefined,
    status: (field(body, "status") || undefined) as TokenStatus | undefined,
    expiresAt: expires ? new Date(`${expires}T00:00:00Z`) : undefined,
    processAs: (field(body, "process_as") || undefined) as ProcessAs | undefined,
    processAsTarget: field(body, "process_as_target"),
    permitted: (field(body, "permitted") || undefined) as PermittedActions | undefined,
    actions: all(body, "actions"),
  };
}

const day = (d: Date) => d.toISOString().slice(0, 10);

export function tokenPages(): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/admin/external-apps", (c) => appsPage(c));
  app.post("/admin/external-apps", async (c) => {
    const actor = await adminOnly(c);
    const svc = c.get("svc");
    const body = await c.req.parseBody({ all: true });
    try {
      if (field(body, "_action") === "settings") {
        await svc.settings.set(tokenSettings, {
          maxApps: field(body, "max_apps"),
          allowTokenInRequest: field(body, "allow_token_in_request") === "on",
        });
        return redirectWith(c, "/admin/external-apps", "Token settings saved");
      }
      const created = await createExternalApp(svc, actor, appInput(body));
      return redirectWith(c, "/admin/external-apps", `External app ${created.id} registered`);
    } catch (error) {
      return appsPage(c, formError(error));
    }
  });
  app.get("/admin/external-apps/:id", (c) => appPage(c, c.req.param("id")));
  app.post("/admin/external-apps/:id", async (c) => {
    const actor = await adminOnly(c);
    const id = c.req.param("id");
    try {
      const body = await c.req.parseBody({ all: true });
      if (field(body, "_action") === "delete") {
        const { tokensDeleted } = await deleteExternalApp(c.get("svc"), actor, id);
        return redirectWith(
          c,
          "/admin/external-apps",
          `External app ${id} deleted with its ${tokensDeleted} token(s)`,
        );
      }
      await updateExternalApp(c.get("svc"), actor, id, appInput(body));
      return redirectWith(c, `/admin/external-apps/${id}`, `External app ${id} saved`);
    } catch (error) {
      return appPage(c, id, formError(error));
    }
  });

  app.get("/admin/auth-tokens", (c) => tokensPage(c));
  app.get("/admin/auth-tokens/new", (c) => newTokenPage(c, c.req.query("app") ?? ""));
  app.post("/admin/auth-tokens/new", async (c) => {
    const actor = await adminOnly(c);
    const body = await c.req.parseBody({ all: true });
    try {
      const { token, value } = await createToken(c.get("svc"), actor, tokenInput(body));
      return page(c, {
        title: "Token created",
        children: (
          <>
            <h1>Token {token.id} created</h1>
            <p>Copy the value now: it is shown only once and labgate keeps only its hash.</p>
            <p>
              <code class="secret">{value}</code>
            </p>
            <p>
              <a href={`/admin/auth-tokens/${token.id}`}>Token details</a> ·{" "}
              <a href="/admin/auth-tokens">All tokens</a>
            </p>
          </>
        ),
      });
    } catch (error) {
      return newTokenPage(c, field(body, "app"), formError(error));
    }
  });
  app.get("/admin/auth-tokens/:id", (c) => tokenPage(c, c.req.param("id")));
  app.post("/admin/auth-tokens/:id", async (c) => {
    const actor = await adminOnly(c);
    const svc = c.get("svc");
    const id = c.req.param("id");
    const body = await c.req.parseBody({ all: true });
    try {
      if (field(body, "_action") === "approve") {
        await approveToken(svc, actor, id);
        return redirectWith(c, "/admin/auth-tokens", `Token ${id} approved`);
      }
      const input = tokenInput(body);
      const current = await getToken(svc, id);
      // The form shows the date only: an unchanged date keeps the stored time of day.
      if (current && field(body, "expires_at") === day(current.expires_at)) {
        input.expiresAt = undefined;
      }
      await updateToken(svc, actor, id, input);
      return redirectWith(c, `/admin/auth-tokens/${id}`, `Token ${id} saved`);
    } catch (error) {
      return tokenPage(c, id, formError(error));
    }
  });

  return app;
}

function AppFields(props: { app?: ExternalApp }) {
  const a = props.app;
  const off = a?.built_in ?? false;
  return (
    <>
      <div class="row">
        <div>
          <label for="id">Unique id</label>
          <input id="id" name="id" type="text" required value={a?.id ?? ""} disabled={!!a} />
        </div>
        <div>
          <label for="description">Description</label>
          <input
            id="description"
            name="description"
            type="text"
            value={a?.description ?? ""}
            disabled={off}
          />
        </div>
        <div>
          <label for="status">Status</label>
          <select id="status" name="status" disabled={off}>
            <option value="active" selected={a?.status !== "disabled"}>Active</option>
            <option value="disabled" selected={a?.status === "disabled"}>Disabled</option>
          </select>
        </div>
        <div>
          <label for="default_expiry_days">Default token expiry (days)</label>
          <input
            id="default_expiry_days"
            name="default_expiry_days"
            type="number"
            min="1"
            max="3650"
            value={String(a?.default_expiry_days ?? 90)}
            disabled={off}
          />
        </div>
        <div>
          <label for="phi_level">PHI level of its tokens and accounts</label>
          <PhiLevelSelect
            id="phi_level"
            name="phi_level"
            value={a?.phi_level ?? "not_phi"}
            declared
            disabled={off}
          />
        </div>
      </div>
      <fieldset>
        <legend>Entry points (each off unless ticked)</legend>
        {(Object.keys(ENTRY_POINTS) as EntryPoint[]).map((e) => (
          <label>
            <input
              type="checkbox"
              name="entry"
              value={e}
              checked={a
                ? { rest: a.entry_rest, sql: a.entry_sql, action: a.entry_action }[e]
                : false}
              disabled={off}
            />{" "}
            {ENTRY_POINTS[e]}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>REST policy</legend>
        <label>
          <input
            type="checkbox"
            name="rest_read_only"
            value="on"
            checked={a?.rest_read_only}
            disabled={off}
          />{" "}
          Read-only (GET only)
        </label>
        <label for="rest_paths">
          Allowed paths (one per line, * matches anything; empty allows all)
        </label>
        <textarea id="rest_paths" name="rest_paths" rows={3} disabled={off}>
          {(a?.rest_paths ?? []).join("\n")}
        </textarea>
      </fieldset>
    </>
  );
}

async function appsPage(c: AppContext, error?: FormError) {
  const actor = await adminOnly(c);
  const svc = c.get("svc");
  const apps = await listApps(svc, actor);
  const settings = await svc.settings.get(tokenSettings);
  return page(c, {
    title: "External apps",
    error: error?.error,
    children: (
      <>
        <h1>External apps</h1>
        <table>
          <thead>
            <tr>
              <th>Id</th>
              <th>Description</th>
              <th>Status</th>
              <th>Entry points</th>
              <th>REST policy</th>
              <th>Default expiry</th>
            </tr>
          </thead>
          <tbody>
            {apps.map((a) => (
              <tr>
                <td>
                  <a href={`/admin/external-apps/${a.id}`}>{a.id}</a>
                  {a.built_in && <span class="pill">built-in</span>}
                </td>
                <td>{a.description}</td>
                <td>{a.status === "active" ? "Active" : "Disabled"}</td>
                <td>
                  {[a.entry_rest && "REST", a.entry_sql && "SQL", a.entry_action && "Action"]
                    .filter(Boolean).join(", ") || "none"}
                </td>
                <td>
                  {a.rest_read_only ? "read-only" : "read-write"}
                  {a.rest_paths.length ? `; ${a.rest_paths.join(" ")}` : ""}
                </td>
                <td class="num">{a.default_expiry_days} days</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="muted">{apps.length} of at most {settings.maxApps} apps registered.</p>
        <div class="card">
          <h2>Register an app</h2>
          <form method="post" action="/admin/external-apps">
            <CsrfField actor={actor} />
            <AppFields />
            <p>
              <button type="submit">Add app</button>
            </p>
          </form>
        </div>
        <div class="card">
          <h2>Token settings</h2>
          <form method="post" action="/admin/external-apps">
            <CsrfField actor={actor} />
            <input type="hidden" name="_action" value="settings" />
            <label for="max_apps">Maximum number of external apps</label>
            <input
              id="max_apps"
              name="max_apps"
              type="number"
              min="1"
              value={String(settings.maxApps)}
            />
            <label>
              <input
                type="checkbox"
                name="allow_token_in_request"
                value="on"
                checked={settings.allowTokenInRequest}
              />{" "}
              Security policy: allow token in request (<code>?token=</code> in URLs)
            </label>
            <p>
              <button type="submit">Save settings</button>
            </p>
          </form>
        </div>
      </>
    ),
  }, error?.status ?? 200);
}

async function appPage(c: AppContext, id: string, error?: FormError) {
  const actor = await adminOnly(c);
  const app = await getApp(c.get("svc"), id);
  if (!app) throw notFound(`No external app ${id}`);
  return page(c, {
    title: app.id,
    error: error?.error,
    children: (
      <>
        <div class="crumbs">
          <a href="/admin/external-apps">External apps</a> / {app.id}
        </div>
        <h1>{app.id}</h1>
        {app.built_in && <p class="notice">Built-in app: view-only.</p>}
        <form method="post">
          <CsrfField actor={actor} />
          <AppFields app={app} />
          {!app.built_in && (
            <p>
              <button type="submit">Save</button>
            </p>
          )}
        </form>
        {!app.built_in && (
          <div class="card">
            <h2>Delete this app</h2>
            <p class="muted">
              Its auth tokens are deleted with it and stop working at once. An app that still has
              user accounts cannot be deleted: move them to another app first, or disable the app
              instead (that can be undone).
            </p>
            <form method="post">
              <CsrfField actor={actor} />
              <input type="hidden" name="_action" value="delete" />
              <label>
                <input type="checkbox" name="confirm" value="yes" required /> Delete {app.id}{" "}
                and all its tokens
              </label>
              <button class="danger" type="submit">Delete app</button>
            </form>
          </div>
        )}
      </>
    ),
  }, error?.status ?? 200);
}

async function tokensPage(c: AppContext) {
  const actor = await adminOnly(c);
  const tokens = await listTokens(c.get("svc"), actor);
  return page(c, {
    title: "Auth tokens",
    children: (
      <>
        <h1>Auth tokens</h1>
        <p>
          <a class="button" href="/admin/auth-tokens/new">Add token</a>
        </p>
        <table>
          <thead>
            <tr>
              <th>Id</th>
              <th>Status</th>
              <th>App</th>
              <th>App user</th>
              <th>Expires</th>
              <th>Process as</th>
              <th>Permitted</th>
              <th>Reason</th>
              <th>Last used</th>
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => (
              <tr>
                <td>
                  <a href={`/admin/auth-tokens/${t.id}`}>{t.id}</a>
                </td>
                <td>{TOKEN_STATUSES[t.status]}</td>
                <td>{t.app_id}</td>
                <td>{t.app_user_email}</td>
                <td>{day(t.expires_at)}</td>
                <td>{t.process_as}</td>
                <td>{t.permitted}</td>
                <td>{t.request_reason}</td>
                <td>{t.last_used_at?.toISOString().slice(0, 16).replace("T", " ") ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </>
    ),
  });
}

function TokenFields(props: { token?: AuthToken; target?: string }) {
  const t = props.token;
  return (
    <>
      <div class="row">
        <div>
          <label for="description">Description</label>
          <input id="description" name="description" type="text" value={t?.description ?? ""} />
        </div>
        <div>
          <label for="request_reason">Request reason</label>
          <input
            id="request_reason"
            name="request_reason"
            type="text"
            value={t?.request_reason ?? ""}
          />
        </div>
        <div>
          <label for="status">Status</label>
          <select id="status" name="status">
            {(Object.keys(TOKEN_STATUSES) as TokenStatus[]).map((s) => (
              <option value={s} selected={(t?.status ?? "active") === s}>
                {TOKEN_STATUSES[s]}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="expires_at">Expiry date (empty: the app's default)</label>
          <input id="expires_at" name="expires_at" type="date" value={t ? day(t.expires_at) : ""} />
        </div>
      </div>
      <div class="row">
        <div>
          <label for="process_as">Allow to process as (header X-Process-As)</label>
          <select id="process_as" name="process_as">
            {(Object.keys(PROCESS_AS) as ProcessAs[]).map((p) => (
              <option value={p} selected={(t?.process_as ?? "never") === p}>{PROCESS_AS[p]}</option>
            ))}
          </select>
        </div>
        <div>
          <label for="process_as_target">
            Process as: user email, department, or role ({Object.keys(ROLES).join(", ")})
          </label>
          <input
            id="process_as_target"
            name="process_as_target"
            type="text"
            value={props.target ?? ""}
          />
        </div>
        <div>
          <label for="permitted">Permitted actions</label>
          <select id="permitted" name="permitted">
            {(Object.keys(PERMITTED) as PermittedActions[]).map((p) => (
              <option value={p} selected={(t?.permitted ?? "full") === p}>{PERMITTED[p]}</option>
            ))}
          </select>
        </div>
      </div>
      <fieldset>
        <legend>Listed actions (restricted only)</legend>
        {ACTIONS.map((a) => (
          <label>
            <input
              type="checkbox"
              name="actions"
              value={a}
              checked={t?.permitted_list.includes(a)}
            />{" "}
            {a}
          </label>
        ))}
      </fieldset>
    </>
  );
}

async function newTokenPage(c: AppContext, appId: string, error?: FormError) {
  const actor = await adminOnly(c);
  const svc = c.get("svc");
  const apps = await listApps(svc, actor);
  const chosen = apps.find((a) => a.id === appId);
  const users = chosen ? await appUsers(svc, chosen.id) : [];
  return page(c, {
    title: "Add auth token",
    error: error?.error,
    children: (
      <>
        <div class="crumbs">
          <a href="/admin/auth-tokens">Auth tokens</a> / new
        </div>
        <h1>Add auth token</h1>
        <form method="get" class="row">
          <div>
            <label for="app">1. External app</label>
            <select id="app" name="app">
              {apps.map((a) => <option value={a.id} selected={a.id === appId}>{a.id}</option>)}
            </select>
          </div>
          <div>
            <button type="submit" class="secondary">Choose app</button>
          </div>
        </form>
        {chosen && (
          <form method="post" action="/admin/auth-tokens/new">
            <CsrfField actor={actor} />
            <input type="hidden" name="app" value={chosen.id} />
            <label for="app_user">2. App user of {chosen.id}</label>
            {users.length
              ? (
                <select id="app_user" name="app_user">
                  {users.map((u) => <option value={String(u.id)}>{u.email}</option>)}
                </select>
              )
              : <p class="muted">{chosen.id} has no app users yet: add one on the Users page.</p>}
            <TokenFields />
            <p class="muted">Expiry defaults to today + {chosen.default_expiry_days} days.</p>
            <p>
              <button type="submit">Create token</button>
            </p>
          </form>
        )}
      </>
    ),
  }, error?.status ?? 200);
}

async function tokenPage(c: AppContext, id: string, error?: FormError) {
  const actor = await adminOnly(c);
  const svc = c.get("svc");
  const token = await getToken(svc, id);
  if (!token) throw notFound(`No auth token ${id}`);
  const users = await appUsers(svc, token.app_id);
  const target = token.process_as === "specific"
    ? (await getUser(svc, Number(token.process_as_target)))?.email
    : token.process_as_target ?? undefined;
  return page(c, {
    title: `Token ${token.id}`,
    error: error?.error,
    children: (
      <>
        <div class="crumbs">
          <a href="/admin/auth-tokens">Auth tokens</a> / {token.id}
        </div>
        <h1>Token {token.id} ({TOKEN_STATUSES[token.status]})</h1>
        <p class="muted">
          App{" "}
          {token.app_id}. The value was shown once when the token was made; labgate keeps only its
          hash.
        </p>
        {token.status === "pending" && (
          <form method="post">
            <CsrfField actor={actor} />
            <input type="hidden" name="_action" value="approve" />
            <button type="submit">Approve</button>
          </form>
        )}
        <form method="post">
          <CsrfField actor={actor} />
          <label for="app_user">App user</label>
          <select id="app_user" name="app_user">
            {users.map((u) => (
              <option value={String(u.id)} selected={u.id === token.app_user_id}>{u.email}</option>
            ))}
          </select>
          <TokenFields token={token} target={target} />
          <p>
            <button type="submit">Save</button>
          </p>
        </form>
      </>
    ),
  }, error?.status ?? 200);
}
