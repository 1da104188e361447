/** The external apps pages of the token door: list, create, edit. */
import { Hono } from "hono";
import type { ExternalApp } from "../../src/db/schema.ts";
import { notFound } from "../../src/errors.ts";
import {
  type AppInput,
  createExternalApp,
  deleteExternalApp,
  ENTRY_POINTS,
  type EntryPoint,
  getApp,
  listApps,
  tokenSettings,
  updateExternalApp,
} from "../../src/doors/tokens/mod.ts";
import { adminOnly, type AppContext, type Env } from "../http/context.ts";
import { Checkbox, Field, FieldRow, Labelled, PostForm, Submit, Table } from "../ui/forms.tsx";
import { PhiLevelSelect } from "../ui/layout.tsx";
import { field, fieldValues, formError, page, redirectWith } from "../ui/render.tsx";

type Form = Record<string, string | File | (string | File)[]>;
type FormError = ReturnType<typeof formError>;

function appInput(body: Form): AppInput {
  return {
    id: field(body, "id"),
    description: field(body, "description"),
    status: field(body, "status") === "disabled" ? "disabled" : "active",
    entryPoints: fieldValues(body, "entry") as EntryPoint[],
    restReadOnly: field(body, "rest_read_only") === "on",
    restPaths: field(body, "rest_paths").split(/[\s,]+/),
    defaultExpiryDays: Number(field(body, "default_expiry_days")),
    phiLevel: field(body, "phi_level"),
  };
}

/** /admin/external-apps and /admin/external-apps/:id. */
export function registerAppPages(app: Hono<Env>): void {
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
}

function AppFields(props: { app?: ExternalApp }) {
  const a = props.app;
  const off = a?.built_in ?? false;
  return (
    <>
      <FieldRow>
        <Field id="id" label="Unique id" required value={a?.id ?? ""} disabled={!!a} />
        <Field id="description" label="Description" value={a?.description ?? ""} disabled={off} />
        <Labelled id="status" label="Status">
          <select id="status" name="status" disabled={off}>
            <option value="active" selected={a?.status !== "disabled"}>Active</option>
            <option value="disabled" selected={a?.status === "disabled"}>Disabled</option>
          </select>
        </Labelled>
        <Field
          id="default_expiry_days"
          label="Default token expiry (days)"
          type="number"
          min="1"
          max="3650"
          value={a?.default_expiry_days ?? 90}
          disabled={off}
        />
        <Labelled id="phi_level" label="PHI level of its tokens and accounts">
          <PhiLevelSelect
            id="phi_level"
            name="phi_level"
            value={a?.phi_level ?? "not_phi"}
            declared
            disabled={off}
          />
        </Labelled>
      </FieldRow>
      <fieldset>
        <legend>Entry points (each off unless ticked)</legend>
        {(Object.keys(ENTRY_POINTS) as EntryPoint[]).map((e) => (
          <Checkbox
            name="entry"
            value={e}
            checked={a
              ? { rest: a.entry_rest, sql: a.entry_sql, action: a.entry_action }[e]
              : false}
            disabled={off}
            label={ENTRY_POINTS[e]}
          />
        ))}
      </fieldset>
      <fieldset>
        <legend>REST policy</legend>
        <Checkbox
          name="rest_read_only"
          checked={a?.rest_read_only}
          disabled={off}
          label="Read-only (GET only)"
        />
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
        <Table
          head={["Id", "Description", "Status", "Entry points", "REST policy", "Default expiry"]}
        >
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
        </Table>
        <p class="muted">{apps.length} of at most {settings.maxApps} apps registered.</p>
        <div class="card">
          <h2>Register an app</h2>
          <PostForm actor={actor} to="/admin/external-apps">
            <AppFields />
            <Submit>Add app</Submit>
          </PostForm>
        </div>
        <div class="card">
          <h2>Token settings</h2>
          <PostForm actor={actor} to="/admin/external-apps" do="settings">
            <Field
              id="max_apps"
              label="Maximum number of external apps"
              type="number"
              min="1"
              value={settings.maxApps}
            />
            <Checkbox
              name="allow_token_in_request"
              checked={settings.allowTokenInRequest}
              label={
                <>
                  Security policy: allow token in request (<code>?token=</code> in URLs)
                </>
              }
            />
            <Submit>Save settings</Submit>
          </PostForm>
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
        <PostForm actor={actor}>
          <AppFields app={app} />
          {!app.built_in && <Submit>Save</Submit>}
        </PostForm>
        {!app.built_in && (
          <div class="card">
            <h2>Delete this app</h2>
            <p class="muted">
              Its auth tokens are deleted with it and stop working at once. An app that still has
              user accounts cannot be deleted: move them to another app first, or disable the app
              instead (that can be undone).
            </p>
            <PostForm actor={actor} do="delete">
              <Checkbox
                name="confirm"
                value="yes"
                required
                label={<>Delete {app.id} and all its tokens</>}
              />
              <button class="danger" type="submit">Delete app</button>
            </PostForm>
          </div>
        )}
      </>
    ),
  }, error?.status ?? 200);
}
