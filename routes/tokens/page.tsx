/** Admin pages of the token door: External apps and Auth tokens. */
import { Hono } from "hono";
import type { AuthToken, PermittedActions, ProcessAs, TokenStatus } from "../../src/db/schema.ts";
import { notFound } from "../../src/errors.ts";
import { ROLES } from "../../src/security/permissions.ts";
import {
  ACTIONS,
  approveToken,
  appUsers,
  createToken,
  getToken,
  listApps,
  listTokens,
  PERMITTED,
  PROCESS_AS,
  TOKEN_STATUSES,
  type TokenInput,
  updateToken,
} from "../../src/doors/tokens/mod.ts";
import { getUser } from "../../src/data/users.ts";
import { adminOnly, type AppContext, type Env } from "../http/context.ts";
import { CsrfField } from "../ui/layout.tsx";
import { Submit, Table } from "../ui/forms.tsx";
import { field, fieldValues, formError, page, redirectWith } from "../ui/render.tsx";
import { registerAppPages } from "./apps_page.tsx";

type Form = Record<string, string | File | (string | File)[]>;
type FormError = ReturnType<typeof formError>;

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
    actions: fieldValues(body, "actions"),
  };
}

const day = (d: Date) => d.toISOString().slice(0, 10);

export function tokenPages(): Hono<Env> {
  const app = new Hono<Env>();

  registerAppPages(app);

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
        <Table
          head={[
            "Id",
            "Status",
            "App",
            "App user",
            "Expires",
            "Process as",
            "Permitted",
            "Reason",
            "Last used",
          ]}
        >
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
        </Table>
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
            <Submit>Create token</Submit>
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
