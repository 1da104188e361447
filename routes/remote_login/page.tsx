/** Site admin page for the remote-login door: cooperating sites and the door's settings. */
import { Hono } from "hono";
import { auditActor } from "../../src/core/actor.ts";
import { addSite, listSites, removeSite } from "../../src/doors/remote_login/mod.ts";
import { remoteLoginSettings } from "../../src/doors/remote_login/settings.ts";
import { adminOnly, type AppContext, type Env } from "../http/context.ts";
import { Checkbox, Field, Labelled, PostForm, Submit, Table } from "../ui/forms.tsx";
import { PhiLevelSelect } from "../ui/layout.tsx";
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
          <Table head={["Site", "Allowed returnUrl origins and prefixes", "Actions"]}>
            {sites.map((s) => (
              <tr>
                <td>{s.name}</td>
                <td>{s.prefixes.join(" ")}</td>
                <td>
                  <PostForm actor={actor} to={PATH} do="remove" class="inline">
                    <input type="hidden" name="site" value={String(s.id)} />
                    <button class="secondary" type="submit">Remove</button>
                  </PostForm>
                </td>
              </tr>
            ))}
          </Table>
          {sites.length === 0 && <p class="muted">No cooperating site yet</p>}
        </div>
        <div class="card">
          <h2>Add a site</h2>
          <PostForm actor={actor} to={PATH} do="add">
            <Field id="name" label="Name" required />
            <Labelled id="prefixes" label="Allowed origins or URL prefixes, one per line">
              <textarea id="prefixes" name="prefixes" rows={3} required></textarea>
            </Labelled>
            <Submit>Add site</Submit>
          </PostForm>
        </div>
        <div class="card">
          <h2>Settings</h2>
          <PostForm actor={actor} to={PATH} do="settings">
            <Field
              id="tokenMinutes"
              label="Token lifetime (minutes)"
              type="number"
              min={1}
              value={settings.tokenMinutes}
            />
            <Field
              id="verifyPerMinute"
              label="verifyToken calls per client address per minute"
              type="number"
              min={1}
              value={settings.verifyPerMinute}
            />
            <Labelled id="phiLevel" label="PHI level in force for cooperating sites' users">
              <PhiLevelSelect id="phiLevel" name="phiLevel" value={settings.phiLevel} declared />
            </Labelled>
            <Checkbox
              name="allowAnyReturnUrl"
              checked={settings.allowAnyReturnUrl}
              label="Allow any returnUrl (development only)"
            />
            <Submit>Save settings</Submit>
          </PostForm>
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
