/** A small browser for route tests: keeps cookies, reads CSRF tokens, no open port. */
import type { Hono } from "hono";
import type { Env } from "../../routes/http/context.ts";

export class TestBrowser {
  readonly cookies = new Map<string, string>();
  readonly #app: Hono<Env>;
  readonly #clientAddr: string;

  constructor(app: Hono<Env>, clientAddr = "127.0.0.1") {
    this.#app = app;
    this.#clientAddr = clientAddr;
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size && !headers.has("cookie")) {
      headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    const response = await this.#app.request(path, { ...init, headers }, {
      clientAddr: this.#clientAddr,
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) =>
        /max-age=0\b/i.test(a) || /expires=Thu, 01 Jan 1970/i.test(a)
      );
      if (expired || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  get(path: string): Promise<Response> {
    return this.request(path);
  }

  postForm(path: string, fields: Record<string, string>): Promise<Response> {
    return this.request(path, { method: "POST", body: new URLSearchParams(fields) });
  }

  json(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return this.request(path, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** The CSRF token in the first form of a page. */
  static csrf(html: string): string {
    const match = /name="_csrf" value="([^"]*)"/.exec(html);
    if (!match) throw new Error("No CSRF field on the page");
    return match[1];
  }

  /** Opens /login and signs in; returns the final response. */
  async signIn(email: string, password: string, next = "/folders"): Promise<Response> {
    const form = await (await this.get(`/login?next=${encodeURIComponent(next)}`)).text();
    return await this.postForm("/login", { _csrf: TestBrowser.csrf(form), email, password, next });
  }

  /** The session's CSRF token, from any signed-in page. */
  async sessionCsrf(): Promise<string> {
    return TestBrowser.csrf(await (await this.get("/account")).text());
  }
}

/** The visible text of an HTML page, for assertions. */
export function textOf(html: string): string {
  return html.replace(/<style[\s\S]*?<\/style>/g, "").replace(/<[^>]+>/g, " ")
    .replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">").replaceAll("&amp;", "&").replace(/\s+/g, " ").trim();
}
