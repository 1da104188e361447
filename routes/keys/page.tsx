/**
 * Key door pages: your keys (/account/keys), External Tool Access
 * (/account/external-tools), and the site settings for keys and login
 * declarations (/admin/keys, /admin/compliance).
 */
import { Hono } from "hono";
import type { Actor } from "../../src/core/actor.ts";
import { complianceSettings, PHI_LEVELS } from "../../src/auth/compliance.ts";
import { phiLevelInForce } from "../../src/security/phi.ts";
import { visibleContainers } from "../../src/data/containers.ts";
import { requireSiteAdmin } from "../../src/data/users.ts";
import { KEY_LOGIN } from "../../src/doors/keys/door.ts";
import {
  createApiKey,
  createSessionKey,
  type KeyView,
  listKeys,
  revokeKey,
  setKeyStatementTimeout,
} from "../../src/doors/keys/mod.ts";
import { type Expiry, EXPIRY_CHOICES, keySettings } from "../../src/doors/keys/settings.ts";
import { sqlDoorPort, sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { type AppContext, type Env, requireActor } from "../http/context.ts";
import { CsrfField, PhiLevelSelect } from "../ui/layout.tsx";
import { field, formError, page, redirectWith } from "../ui/render.tsx";

const when = (d: Date | null) => d ? d.toISOString().slice(0, 16).replace("T", " ") : "—";

function KeyTable(props: { keys: KeyView[]; actor: Actor; action: string; showUser?: boolean }) {
  if (!props.keys.length) return <p class="muted">No keys yet</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>Id</th>
          <th>Kind</th>
          {props.showUser && <th>User</th>}
          <th>Description</th>
          <th>Created</th>
          <th>Expires</th>
          <th>Last used</th>
          <th>Status</th>
          {props.showUser && <th>Statement time limit (s)</th>}
          <th>Actions</th>
        </tr>
      </thead>
      <tbody>
        {props.keys.map((k) => (
          <tr>
            <td>
              <code>{k.id}</code>
            </td>
            <td>{k.kind === "api_key" ? "API key" : "Session key"}</td>
            {props.showUser && <td>{k.userEmail}</td>}
            <td>{k.description}</td>
            <td>{when(k.createdAt)}</td>
            <td>{k.kind === "session_key" ? "With the session" : when(k.expiresAt)}</td>
            <td>{when(k.lastUsedAt)}</td>
            <td>{k.status}</td>
            {props.showUser && (
              <td>
                {k.kind === "api_key" && k.status === "active"
                  ? (
                    <form class="inline" method="post" action={`${props.action}/${k.id}/limits`}>
                      <CsrfField actor={props.actor} />
                      <input
                        name="statement_timeout"
                        type="number"
                        min="1"
                        max="86400"
                        placeholder="site's"
                        aria-label={`Statement time limit of key ${k.id} in seconds`}
                        value={k.statementTimeoutSeconds ?? ""}
                      />{" "}
                      <button class="secondary" type="submit">Set</button>
                    </form>
                  )
                  : k.statementTimeoutSeconds ?? ""}
              </td>
            )}
            <td>
              {k.status === "active" && (
                <form class="inline" method="post" action={`${props.action}/${k.id}/revoke`}>
                  <CsrfField actor={props.actor} />
                  <button class="secondary" type="submit">Revoke</button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The key, once, with a copy button (the text is selectable without script). */
function NewKey(props: { value: string; kind: string }) {
  return (
    <div class="card" id="new-key">
      <h2>Your new {props.kind === "api_key" ? "API key" : "session key"}</h2>
      <p>
        Copy it now: it is not shown again and nobody, not even an administrator, can retrieve it.
      </p>
      <p>
        <code id="key-value">{props.value}</code>{" "}
        <button type="button" id="copy-key" class="secondary">Copy</button>
      </p>
      <script src="/static/copy_key.js" defer />
    </div>
  );
}

interface Connection {
  host: string;
  port: number;
  requireTls: boolean;
  folders: string[];
}

/** Ready-to-paste settings for each tool; `key` fills the secret when one was just made. */
function connectionSnippets(conn: Connection, baseUrl: string, key = "<your key>") {
  const db = conn.folders.find((f) => f !== "/") ?? conn.folders[0] ?? "/home";
  // A key is a password: the SQL door takes it only inside TLS, whatever the site requires.
  return {
    psql:
      `psql "host=${conn.host} port=${conn.port} dbname=${db} user=${KEY_LOGIN} sslmode=require"`,
    odbc: [
      "[labgate]",
      "Driver=PostgreSQL Unicode",
      `Servername=${conn.host}`,
      `Port=${conn.port}`,
      `Database=${db}`,
      `Username=${KEY_LOGIN}`,
      `Password=${key}`,
      `SSLmode=require`,
    ].join("\n"),
    jdbc: `jdbc:postgresql://${conn.host}:${conn.port}/${
      encodeURIComponent(db)
    }?sslmode=require&user=${KEY_LOGIN}`,
    netrc: `machine ${new URL(baseUrl).hostname}\nlogin ${KEY_LOGIN}\npassword ${key}`,
    r: `library(Rlabkey)\nlabkey.setDefaults(apiKey = "${key}")\nlabkey.setDefaults(baseUrl = "${baseUrl}")`,
    python: `from labkey.api_wrapper import APIWrapper\napi = APIWrapper("${
      new URL(baseUrl).host
    }", "${db.replace(/^\//, "")}", use_ssl=${
      baseUrl.startsWith("https") ? "True" : "False"
    }, api_key="${key}")`,
  };
}

async function externalToolsPage(
  c: AppContext,
  created?: { key: string; view: KeyView },
  error?: ReturnType<typeof formError>,
) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  const sqlDoor = await svc.settings.get(sqlDoorSettings);
  const keys = await svc.settings.get(keySettings);
  const url = new URL(c.req.url);
  const conn: Connection = {
    host: sqlDoor.hostOverride ?? url.hostname,
    port: sqlDoorPort(svc, sqlDoor),
    requireTls: sqlDoor.requireTls,
    folders: (await visibleContainers(svc, actor)).map((f) => f.path),
  };
  const s = connectionSnippets(conn, url.origin, created?.key);
  if (created) c.header("cache-control", "no-store");
  return page(c, {
    title: "External tool access",
    error: error?.error,
    children: (
      <>
        <h1>External tool access</h1>
        {created && <NewKey value={created.key} kind={created.view.kind} />}
        <div class="card">
          <h2>Create a key</h2>
          {keys.sessionKeys && actor.session && (
            <form method="post" action="/account/keys">
              <CsrfField actor={actor} />
              <input type="hidden" name="kind" value="session_key" />
              <p>
                A session key works only while this browser session lasts, with your current
                declarations; it ends when you sign out or the session times out.
              </p>
              <button type="submit">Generate session key</button>
            </form>
          )}
          {keys.apiKeys && actor.session && (
            <form method="post" action="/account/keys">
              <CsrfField actor={actor} />
              <input type="hidden" name="kind" value="api_key" />
              <label for="expiry">API key expires after</label>
              <select id="expiry" name="expiry">
                {keys.apiKeyExpiries.map((e) => (
                  <option value={e}>{EXPIRY_CHOICES[e].label}</option>
                ))}
              </select>
              <label for="phi_level">PHI level (at most your session's)</label>
              <PhiLevelSelect
                id="phi_level"
                name="phi_level"
                value={phiLevelInForce(actor)}
                declared
              />
              <label for="description">Description (optional)</label>
              <input id="description" name="description" maxlength={200} />
              <p>
                <button type="submit">Generate API key</button>
              </p>
            </form>
          )}
          {!keys.sessionKeys && !keys.apiKeys && (
            <p class="muted">Keys are turned off on this site: ask a site admin</p>
          )}
          <p>
            <a href="/account/keys">Your keys</a>
          </p>
        </div>
        <div class="card">
          <h2>SQL door</h2>
          <table>
            <tbody>
              <tr>
                <td>Host</td>
                <td>
                  <code>{conn.host}</code>
                </td>
              </tr>
              <tr>
                <td>Port</td>
                <td>
                  <code>{conn.port}</code>
                </td>
              </tr>
              <tr>
                <td>TLS</td>
                <td>{conn.requireTls ? "Required" : "Optional (keys need TLS)"}</td>
              </tr>
              <tr>
                <td>User</td>
                <td>
                  <code>{KEY_LOGIN}</code>, with a key as the password
                </td>
              </tr>
              <tr>
                <td>Certificate</td>
                <td>
                  <a href="/sql-door/certificate.pem">certificate.pem</a>
                </td>
              </tr>
              <tr>
                <td>Databases (your folders)</td>
                <td>
                  {conn.folders.length
                    ? conn.folders.map((f) => <code>{f}</code>)
                    : <span class="muted">You cannot read any folder yet</span>}
                </td>
              </tr>
            </tbody>
          </table>
          <h3>psql</h3>
          <pre>{s.psql}</pre>
          <h3>ODBC (psqlODBC, odbc.ini)</h3>
          <pre>{s.odbc}</pre>
          <h3>JDBC (pgJDBC)</h3>
          <p class="muted">The folder path is URL-encoded in the JDBC URL: / becomes %2F.</p>
          <pre>{s.jdbc}</pre>
        </div>
        <div class="card">
          <h2>HTTP clients</h2>
          <h3>.netrc (curl --netrc, Rlabkey, labkey for Python)</h3>
          <pre>{s.netrc}</pre>
          <h3>R</h3>
          <pre>{s.r}</pre>
          <h3>Python</h3>
          <pre>{s.python}</pre>
        </div>
      </>
    ),
  }, error?.status);
}

async function accountKeysPage(c: AppContext) {
  const actor = requireActor(c);
  const keys = await listKeys(c.get("svc"), actor);
  return page(c, {
    title: "Your keys",
    children: (
      <>
        <h1>Your keys</h1>
        <p>
          <a href="/account/external-tools">Create a key and connect a tool</a>
        </p>
        <KeyTable keys={keys} actor={actor} action="/account/keys" />
      </>
    ),
  });
}

async function adminKeysPage(c: AppContext, error?: ReturnType<typeof formError>) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  await requireSiteAdmin(svc, actor);
  const settings = await svc.settings.get(keySettings);
  const keys = await listKeys(svc, actor, { all: true });
  return page(c, {
    title: "API keys",
    error: error?.error,
    children: (
      <>
        <h1>API keys</h1>
        <div class="card">
          <h2>Settings</h2>
          <form method="post" action="/admin/keys">
            <CsrfField actor={actor} />
            <label>
              <input type="checkbox" name="apiKeys" checked={settings.apiKeys} />{" "}
              Let users create API keys
            </label>
            <p>Expiry choices users may pick:</p>
            {(Object.keys(EXPIRY_CHOICES) as Expiry[]).map((e) => (
              <label>
                <input
                  type="checkbox"
                  name="apiKeyExpiries"
                  value={e}
                  checked={settings.apiKeyExpiries.includes(e)}
                />{" "}
                {EXPIRY_CHOICES[e].label}
              </label>
            ))}
            <label>
              <input type="checkbox" name="sessionKeys" checked={settings.sessionKeys} />{" "}
              Let users create session keys
            </label>
            <p>
              <button type="submit">Save</button>
            </p>
          </form>
        </div>
        <div class="card">
          <h2>Every user's keys</h2>
          <KeyTable keys={keys} actor={actor} action="/admin/keys" showUser />
        </div>
      </>
    ),
  }, error?.status);
}

async function adminCompliancePage(c: AppContext, error?: ReturnType<typeof formError>) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  await requireSiteAdmin(svc, actor);
  const settings = await svc.settings.get(complianceSettings);
  return page(c, {
    title: "Login declarations",
    error: error?.error,
    children: (
      <>
        <h1>Login declarations</h1>
        <div class="card">
          <form method="post" action="/admin/compliance">
            <CsrfField actor={actor} />
            <label>
              <input type="checkbox" name="required" checked={settings.required} />{" "}
              Require every login to accept the terms of use and give an IRB number and PHI level
              ({Object.values(PHI_LEVELS).join(", ")})
            </label>
            <label for="termsVersion">Terms of use version</label>
            <input id="termsVersion" name="termsVersion" value={settings.termsVersion} />
            <label for="termsText">Terms of use</label>
            <textarea id="termsText" name="termsText" rows={8}>{settings.termsText}</textarea>
            <p>
              <button type="submit">Save</button>
            </p>
          </form>
        </div>
      </>
    ),
  }, error?.status);
}

export function keyPages(): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/account/external-tools", (c) => externalToolsPage(c));
  app.get("/account/keys", (c) => accountKeysPage(c));
  app.post("/account/keys", async (c) => {
    const svc = c.get("svc");
    const actor = requireActor(c);
    const body = await c.req.parseBody();
    try {
      const created = field(body, "kind") === "session_key"
        ? await createSessionKey(svc, actor)
        : await createApiKey(svc, actor, {
          expiry: field(body, "expiry"),
          description: field(body, "description"),
          phiLevel: field(body, "phi_level"),
        });
      return await externalToolsPage(c, created);
    } catch (error) {
      return await externalToolsPage(c, undefined, formError(error));
    }
  });
  app.post("/account/keys/:id/revoke", async (c) => {
    await revokeKey(c.get("svc"), requireActor(c), c.req.param("id"));
    return redirectWith(c, "/account/keys", "Key revoked");
  });

  app.get("/admin/keys", (c) => adminKeysPage(c));
  app.post("/admin/keys", async (c) => {
    const svc = c.get("svc");
    await requireSiteAdmin(svc, requireActor(c));
    const body = await c.req.parseBody({ all: true });
    const expiries = body.apiKeyExpiries;
    try {
      await svc.settings.set(keySettings, {
        apiKeys: body.apiKeys === "on",
        apiKeyExpiries: Array.isArray(expiries) ? expiries : expiries ? [expiries] : [],
        sessionKeys: body.sessionKeys === "on",
      });
      return redirectWith(c, "/admin/keys", "Key settings saved");
    } catch (error) {
      return await adminKeysPage(c, formError(error));
    }
  });
  app.post("/admin/keys/:id/limits", async (c) => {
    const svc = c.get("svc");
    const actor = requireActor(c);
    await requireSiteAdmin(svc, actor);
    const body = await c.req.parseBody();
    try {
      const view = await setKeyStatementTimeout(
        svc,
        actor,
        c.req.param("id"),
        field(body, "statement_timeout"),
      );
      const limit = view.statementTimeoutSeconds;
      return redirectWith(
        c,
        "/admin/keys",
        `Key ${view.id}: statement time limit ${limit === null ? "the site's" : `${limit} s`}`,
      );
    } catch (error) {
      return await adminKeysPage(c, formError(error));
    }
  });
  app.post("/admin/keys/:id/revoke", async (c) => {
    const svc = c.get("svc");
    const actor = requireActor(c);
    await requireSiteAdmin(svc, actor);
    await revokeKey(svc, actor, c.req.param("id"));
    return redirectWith(c, "/admin/keys", "Key revoked");
  });

  app.get("/admin/compliance", (c) => adminCompliancePage(c));
  app.post("/admin/compliance", async (c) => {
    const svc = c.get("svc");
    await requireSiteAdmin(svc, requireActor(c));
    const body = await c.req.parseBody();
    try {
      await svc.settings.set(complianceSettings, {
        required: body.required === "on",
        termsVersion: field(body, "termsVersion"),
        termsText: field(body, "termsText"),
      });
      return redirectWith(c, "/admin/compliance", "Login declarations saved");
    } catch (error) {
      return await adminCompliancePage(c, formError(error));
    }
  });

  return app;
}
