/**
 * A new user's path to scripted access, through HTTP and JSON only (no
 * labgate imports): labgate runs as its own process (`main.ts`) on PGlite,
 * and on a fresh PostgreSQL database when TEST_DATABASE_URL is set.
 */
import assert from "node:assert/strict";

const ADMIN = { email: "admin@example.org", password: "admin-password-1" };
const USER = { email: "newcomer@example.org", password: "newcomer-password-1" };
const ROOT = new URL("../../", import.meta.url).pathname;
const POSTGRES_URL = Deno.env.get("TEST_DATABASE_URL") ?? Deno.env.get("DATABASE_URL");

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Starts labgate and waits until /healthz answers. */
async function startLabgate(env: Record<string, string>) {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: ROOT,
    env: {
      ...env,
      PORT: String(port),
      LABGATE_HOSTNAME: "127.0.0.1",
      LABGATE_ADMIN_EMAIL: ADMIN.email,
      LABGATE_ADMIN_PASSWORD: ADMIN.password,
      LABGATE_LOG_REQUESTS: "false",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      const health = await fetch(`${base}/healthz`);
      await health.body?.cancel();
      if (health.ok) break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    base,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.stderr.cancel();
      await child.status;
    },
  };
}

/** A cookie jar over fetch: enough of a browser for forms and the JSON API. */
class Client {
  readonly #jar = new Map<string, string>();
  constructor(readonly base: string) {}

  async send(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#jar.size) {
      headers.set("cookie", [...this.#jar].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    const response = await fetch(this.base + path, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      const value = pair.slice(eq + 1);
      if (value && !/max-age=0/i.test(line)) this.#jar.set(pair.slice(0, eq), value);
      else this.#jar.delete(pair.slice(0, eq));
    }
    return response;
  }

  async json(method: string, path: string, body?: unknown, headers: HeadersInit = {}) {
    const response = await this.send(path, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  }

  async form(path: string, fields: string[][], csrf: string) {
    const response = await this.send(path, {
      method: "POST",
      headers: { "x-csrf-token": csrf },
      body: new URLSearchParams(fields),
    });
    await response.body?.cancel();
    return response;
  }
}

async function newUserPath(env: Record<string, string>) {
  await using labgate = await startLabgate(env);

  // The site admin turns on session keys and login declarations, and adds a user.
  const admin = new Client(labgate.base);
  const signedIn = await admin.json("POST", "/api/login", ADMIN);
  assert.equal(signedIn.status, 200);
  const csrf = signedIn.body.csrfToken;
  assert.equal((await admin.form("/admin/keys", [["sessionKeys", "on"]], csrf)).status, 303);
  const compliance = [["required", "on"], ["termsVersion", "2026-1"], [
    "termsText",
    "Use the data only for your approved protocol",
  ]];
  assert.equal((await admin.form("/admin/compliance", compliance, csrf)).status, 303);
  const user = await admin.json("POST", "/api/users", USER, { "x-csrf-token": csrf });
  assert.equal(user.status, 201);
  const home = await admin.json("GET", "/api/folders?path=/home");
  const policy = await admin.json("PUT", `/api/folders/${home.body[0].id}/policy`, {
    inherit: false,
    assignments: [{ principalId: user.body.id, role: "reader" }],
  }, { "x-csrf-token": csrf });
  assert.equal(policy.status, 200);

  // The new user signs in through the login form and makes the declarations.
  const browser = new Client(labgate.base);
  const loginPage = await (await browser.send("/login")).text();
  assert.ok(loginPage.includes("Use the data only for your approved protocol"));
  const formCsrf = /name="_csrf" value="([^"]*)"/.exec(loginPage)![1];
  const login = await browser.form("/login", [
    ["email", USER.email],
    ["password", USER.password],
    ["terms_accepted", "on"],
    ["irb_number", "IRB-2026-042"],
    ["phi_level", "none"],
    ["next", "/folders"],
  ], formCsrf);
  assert.equal(login.status, 303);
  assert.equal(login.headers.get("location"), "/folders");

  // A session key, from the signed-in session.
  const me = await browser.json("GET", "/api/me");
  assert.equal(me.body.user.email, USER.email);
  const made = await browser.json("POST", "/api/keys", { kind: "session_key" }, {
    "x-csrf-token": me.body.csrfToken,
  });
  assert.equal(made.status, 201);
  const key: string = made.body.key;
  assert.match(key, /^lgs_/);

  // A script queries with the key alone.
  const script = { authorization: `Basic ${btoa(`apikey:${key}`)}` };
  const folders = await fetch(`${labgate.base}/api/folders`, { headers: script });
  assert.equal(folders.status, 200);
  assert.deepEqual((await folders.json()).map((f: { path: string }) => f.path), ["/home"]);

  // Signing out ends the key.
  const logout = await browser.form("/logout", [], me.body.csrfToken);
  assert.equal(logout.status, 303);
  const after = await fetch(`${labgate.base}/api/folders`, { headers: script });
  assert.equal(after.status, 401);
  assert.deepEqual(await after.json(), {
    error: { status: 401, message: "Session key's browser session has ended" },
  });
}

Deno.test({
  name: "a new user logs in, declares, takes a session key, queries, logs out [pglite]",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "labgate_e2e_" });
    try {
      await newUserPath({ LABGATE_DATA_DIR: dataDir });
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a new user logs in, declares, takes a session key, queries, logs out [postgres]",
  ignore: !POSTGRES_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const name = `lge2e_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const url = new URL(POSTGRES_URL!);
    const psql = (sql: string) =>
      new Deno.Command("psql", { args: [POSTGRES_URL!, "-qc", sql], stdout: "null" }).output();
    assert.ok((await psql(`create database ${name}`)).success);
    url.pathname = `/${name}`;
    try {
      await newUserPath({ DATABASE_URL: url.toString() });
    } finally {
      await psql(`drop database if exists ${name} with (force)`);
    }
  },
});
