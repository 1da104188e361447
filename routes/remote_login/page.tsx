/** Site admin page for the remote-login door: cooperating sites and the door's settings. */
import { Hono } from "hono";
import { auditActor } from "../../src/core/actor.ts";
import { addSite, listSites, removeSite } from "../../src/doors/remote_login/mod.ts";
import { remoteLoginSettings } from "../../src/doors/remote_login/settings.ts";
import { adminOnly, type AppContext, type Env } from "../http/context.ts";
import { CsrfField, PhiLevelSelect } from "../ui/layout.tsx";
import { field, formError, page, redirectWith } from "../ui/render.tsx";

const PATH = "/admin/remote-sites";

async function sitesPage(c: AppContext, failure?: ReturnType<typeof formError>) {
  const actor = await adminOnly(c);
  const svc = c.get("svc");
  const sites = await listSites(svc);
  const settings = await svc.settings.get(remoteLoginSettings);
  return page(c, {
    title: "Remote login sites",
    error: failure?.error,
    children: (
      <>
        <h1>Remote login sites</h1>
        <p class="muted">
          Cooperating websites send users to <code>/login/createToken.view?returnUrl=…</code>{" "}
          to sign in here. labgate only sends browsers back to the origins and URL prefixes listed
          below.
        </p>
        <div class="card">
          <table>
            <thead>
              <tr>
                <th>Site</th>
                <th>Allowed returnUrl origins and prefixes</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {sites.map((s) => (
                <tr>
                  <td>{s.name}</td>
                  <td>{s.prefixes.join(" ")}</td>
                  <td>
                    <form class="inline" method="post" action={PATH}>
                      <CsrfField actor={actor} />
                      <input type="hidden" name="_action" value="remove" />
                      <input type="hidden" name="site" value={String(s.id)} />
                      <button class="secondary" type="submit">Remove</button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {sites.length === 0 && <p class="muted">No cooperating site yet</p>}
        </div>
        <div class="card">
          <h2>Add a site</h2>
          <form method="post" action={PATH}>
            <CsrfField actor={actor} />
            <input type="hidden" name="_action" value="add" />
            <label for="name">Name</label>
            <input id="name" name="name" required />
            <label for="prefixes">Allowed origins or URL prefixes, one per line</label>
            <textarea id="prefixes" name="prefixes" rows={3} required></textarea>
            <p>
              <button type="submit">Add site</button>
            </p>
          </form>
        </div>
        <div class="card">
          <h2>Settings</h2>
          <form method="post" action={PATH}>
            <CsrfField actor={actor} />
            <input type="hidden" name="_action" value="settings" />
            <label for="tokenMinutes">Token lifetime (minutes)</label>
            <input
              id="tokenMinutes"
              name="tokenMinutes"
              type="number"
              min={1}
              value={String(settings.tokenMinutes)}
            />
            <label for="verifyPerMinute">verifyToken calls per client address per minute</label>
            <input
              id="verifyPerMinute"
              name="verifyPerMinute"
              type="number"
              min={1}
              value={String(settings.verifyPerMinute)}
            />
            <label for="phiLevel">PHI level in force for cooperating sites' users</label>
            <PhiLevelSelect id="phiLevel" name="phiLevel" value={settings.phiLevel} declared />
            <label>
              <input
                type="checkbox"
                name="allowAnyReturnUrl"
                value="on"
                checked={settings.allowAnyReturnUrl}
              />{" "}
              Allow any returnUrl (development only)
            </label>
            <p>
              <button type="submit">Save settings</button>
            </p>
          </form>
        </div>
      </>
    ),
  }, failure?.status);
}

export function remoteSitesPages(): Hono<Env> {
  const app = new Hono<Env>();

  app.get(PATH, (c) => sitesPage(c));
  app.post(PATH, async (c) => {
    const actor = await adminOnly(c);
    const svc = c.get("svc");
    const body = await c.req.parseBody();
    try {
      switch (field(body, "_action")) {
        case "add": {
          const site = await addSite(svc, actor, {
            name: field(body, "name"),
            prefixes: field(body, "prefixes").split(/\s+/),
          });
          return redirectWith(c, PATH, `Site ${site.name} added`);
        }
        case "remove":
          await removeSite(svc, actor, Number(field(body, "site")));
          return redirectWith(c, PATH, "Site removed");
        case "settings":
          await svc.settings.set(remoteLoginSettings, {
            allowAnyReturnUrl: field(body, "allowAnyReturnUrl") === "on",
            tokenMinutes: field(body, "tokenMinutes"),
            verifyPerMinute: field(body, "verifyPerMinute"),
            phiLevel: field(body, "phiLevel"),
          });
          svc.audit.record({
            ...auditActor(actor),
            event: "remote.settings",
            outcome: "ok",
            detail: JSON.stringify(await svc.settings.get(remoteLoginSettings)),
          });
          return redirectWith(c, PATH, "Settings saved");
        default:
          return c.text("Unknown action", 400);
      }
    } catch (error) {
      return sitesPage(c, formError(error));
    }
  });

  return app;
}
