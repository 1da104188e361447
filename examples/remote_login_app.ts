/**
 * A tiny cooperating website that signs its users in through labgate and
 * shows a page according to their permissions on a labgate folder.
 *
 * Register its origin as a cooperating site in labgate (Site settings,
 * Remote login sites, e.g. `http://localhost:8090`), then run:
 *
 *   LABGATE_URL=http://localhost:8080 PORT=8090 deno run --allow-net --allow-env examples/remote_login_app.ts
 *
 * and open http://localhost:8090/protected?folder=/home
 */
import { Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { RemoteLoginClient, type SessionStore } from "../src/doors/remote_login/client.ts";

const SESSION_COOKIE = "example_session";

export interface ExampleOptions {
  /** labgate's base URL. */
  labgateUrl: string;
  /** How long permission answers are reused (0: ask labgate on every request). */
  cacheMs?: number;
  store?: SessionStore;
}

function layout(title: string, body: HtmlEscapedString | Promise<HtmlEscapedString>) {
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <title>${title}</title>
      </head>
      <body>
        <h1>${title}</h1>
        ${body}
      </body>
    </html>
  `;
}

export function createExampleApp(options: ExampleOptions): Hono {
  const labgate = new RemoteLoginClient({
    baseUrl: options.labgateUrl,
    cacheMs: options.cacheMs ?? 0,
    store: options.store,
  });
  const app = new Hono();

  /** This app's own session id, kept in a cookie. */
  function sessionId(c: Parameters<typeof getCookie>[0]): string {
    let id = getCookie(c, SESSION_COOKIE);
    if (!id) {
      id = crypto.randomUUID();
      setCookie(c, SESSION_COOKIE, id, { httpOnly: true, sameSite: "Lax", path: "/" });
    }
    return id;
  }

  app.get("/", (c) =>
    c.html(layout(
      "Example lab app",
      html`<p><a href="/protected?folder=/home">Open the page protected by labgate folder /home</a></p>`,
    )));

  app.get("/protected", async (c) => {
    const session = sessionId(c);
    if (await labgate.completeLogin(session, c.req.url)) {
      return c.redirect(labgate.stripReturn(c.req.url), 303);
    }
    const identity = await labgate.identity(session);
    if (!identity) return c.redirect(labgate.loginRedirectUrl(c.req.url), 303);
    const folder = c.req.query("folder") || "/home";
    const answer = await labgate.verify(identity.token, folder);
    if (!answer.success) {
      await labgate.forget(session);
      return c.html(
        layout(
          "Sign in again",
          html`<p>Your labgate sign-in has ended: ${answer.message}.</p>
<p><a id="login" href="${labgate.loginRedirectUrl(c.req.url)}">Log in again</a></p>`,
        ),
        401,
      );
    }
    const logout =
      html`<p>Signed in as ${answer.email}. <a id="logout" href="/logout">Log out</a></p>`;
    if (!answer.permissions.has("READ")) {
      return c.html(
        layout("Permission denied", html`<p>You may not read ${folder}.</p>${logout}`),
        403,
      );
    }
    return c.html(layout(
      `You may READ ${folder}`,
      html`<p>Your permissions on ${folder}: ${
        [...answer.permissions].join(", ")
      } (bits ${answer.bits}).</p>${logout}`,
    ));
  });

  app.get("/logout", async (c) => {
    const session = sessionId(c);
    const identity = await labgate.identity(session);
    await labgate.forget(session);
    if (!identity) return c.redirect("/", 303);
    return c.redirect(labgate.invalidateRedirectUrl(identity.token, new URL("/", c.req.url)), 303);
  });

  return app;
}

if (import.meta.main) {
  const port = Number(Deno.env.get("PORT") ?? 8090);
  const labgateUrl = Deno.env.get("LABGATE_URL") ?? "http://localhost:8080";
  Deno.serve({ port }, createExampleApp({ labgateUrl }).fetch);
}
