import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { createApp } from "../../routes/mod.ts";
import { createUser } from "../../src/data/users.ts";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  backendTest,
  type TestContext,
} from "../_support/backends.ts";
import { TestBrowser } from "../_support/http.ts";

async function signedIn(t: TestContext, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  const client = new TestBrowser(createApp(t.svc));
  const response = await client.json("POST", "/api/login", { email, password });
  assert.equal(response.status, 200);
  const me = await response.json();
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const r = await client.json(method, path, body, { "x-csrf-token": me.csrfToken, ...headers });
    return {
      status: r.status,
      body: r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text(),
    };
  };
  return { client, me, call };
}

backendTest(
  "the JSON API scripts a whole setup: users, groups, folders, roles, lists, rows",
  async (t) => {
    const { me, call } = await signedIn(t);
    assert.equal(me.siteAdmin, true);
    assert.equal(me.passwordChangeRequired, false);
    assert.equal(me.user.email, ADMIN_EMAIL);

    const user = await call("POST", "/api/users", {
      email: "ana@example.org",
      displayName: "Ana",
      department: "Chemistry",
      password: "ana-password",
    });
    assert.equal(user.status, 201);
    assert.equal(user.body.hasPassword, true);
    assert.equal("password_verifier" in user.body, false);
    const group = await call("POST", "/api/groups", { name: "Chemists" });
    assert.equal(group.status, 201);
    assert.equal(
      (await call("PUT", `/api/groups/${group.body.id}/members/${user.body.id}`)).status,
      200,
    );

    const folder = await call("POST", "/api/folders", {
      parent: "/home",
      name: "chem",
      inheritPolicy: false,
    });
    assert.equal(folder.status, 201);
    assert.equal(folder.body.path, "/home/chem");
    const policy = await call("PUT", `/api/folders/${folder.body.id}/policy`, {
      inherit: false,
      assignments: [{ principalId: group.body.id, role: "author" }],
    });
    assert.equal(policy.status, 200);
    assert.deepEqual(
      policy.body.assignments.map((a: { name: string; role: string }) => `${a.name}:${a.role}`),
      ["Chemists:author"],
    );

    const list = await call("POST", `/api/folders/${folder.body.id}/lists`, {
      name: "reagents",
      key: "Id",
      autoKey: true,
      columns: [{ name: "Name", type: "Text", required: true }, { name: "Grams", type: "Decimal" }],
    });
    assert.equal(list.status, 201);
    assert.deepEqual(list.body.columns.map((c: { name: string }) => c.name), [
      "Id",
      "Name",
      "Grams",
    ]);
    const inserted = await call("POST", `/api/lists/${list.body.id}/rows`, {
      rows: [{ Name: "NaCl", Grams: "5.00" }, { Name: "KCl" }],
    });
    assert.equal(inserted.status, 201);
    assert.deepEqual(inserted.body.rows, [{ Id: 1, Name: "NaCl", Grams: "5.00" }, {
      Id: 2,
      Name: "KCl",
      Grams: null,
    }]);
    const imported = await call("POST", `/api/lists/${list.body.id}/import`, {
      text: "Name\tGrams\nMgCl2\t1.5\n",
    });
    assert.deepEqual(imported.body, { inserted: 1 });
    const page = await call(
      "GET",
      `/api/lists/${list.body.id}/rows?Grams~gte=1.5&sort=-Grams&limit=1`,
    );
    assert.deepEqual(page.body, {
      rows: [{ Id: 1, Name: "NaCl", Grams: "5.00" }],
      total: 2,
      limit: 1,
      offset: 0,
    });
    const updated = await call("PATCH", `/api/lists/${list.body.id}/rows`, {
      rows: [{ Id: 2, Grams: "0.5" }],
    });
    assert.deepEqual(updated.body.rows, [{ Id: 2, Name: "KCl", Grams: "0.5" }]);
    const deleted = await call("DELETE", `/api/lists/${list.body.id}/rows`, { keys: [3] });
    assert.deepEqual(deleted.body.rows, [{ Id: 3, Name: "MgCl2", Grams: "1.5" }]);
    const csv = await call("GET", `/api/lists/${list.body.id}/export`);
    assert.equal(csv.body, "Id,Name,Grams\r\n1,NaCl,5.00\r\n2,KCl,0.5\r\n");

    // Ana (Author through her group) can read and insert, not delete or administer.
    const ana = await signedIn(t, "ana@example.org", "ana-password");
    assert.equal((await ana.call("GET", `/api/lists/${list.body.id}/rows`)).body.total, 2);
    assert.equal(
      (await ana.call("POST", `/api/lists/${list.body.id}/rows`, { rows: [{ Name: "H2O" }] }))
        .status,
      201,
    );
    const refused = await ana.call("DELETE", `/api/lists/${list.body.id}/rows`, { keys: [1] });
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /You do not have permission/);
    assert.equal((await ana.call("GET", "/api/users")).status, 403);
    const folders = await ana.call("GET", "/api/folders");
    assert.deepEqual(folders.body.map((f: { path: string }) => f.path), ["/home/chem"]);
    assert.deepEqual(folders.body[0].permissions, { bits: 3, names: ["READ", "INSERT"] });
  },
);

backendTest(
  "the JSON API answers bad input with a clear JSON error and changes nothing",
  async (t) => {
    const { call } = await signedIn(t);
    const invalid = await call("POST", "/api/folders", { parent: "/home" });
    assert.equal(invalid.status, 400);
    assert.match(invalid.body.error.message, /^Invalid request: name/);
    const badName = await call("POST", "/api/folders", { parent: "/home", name: "a b" });
    assert.equal(badName.status, 400);
    assert.match(badName.body.error.message, /"a b" is not a valid folder name/);
    const missing = await call("GET", "/api/lists/9999");
    assert.equal(missing.status, 404);
    const unknownRole = await call("PUT", "/api/folders/2/policy", {
      inherit: false,
      assignments: [{ principalId: 1, role: "god" }],
    });
    assert.equal(unknownRole.status, 400);
    const nowhere = await call("GET", "/api/nothing-here");
    assert.deepEqual(nowhere, {
      status: 404,
      body: { error: { status: 404, message: "No such API endpoint" } },
    });
    const anonymous = await new TestBrowser(createApp(t.svc)).json("GET", "/api/folders");
    assert.equal(anonymous.status, 401);
    assert.deepEqual(await anonymous.json(), { error: { status: 401, message: "Sign in first" } });
    const tooBig = await new TestBrowser(createApp(t.svc)).request("/api/login", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": String(t.config.maxBodyBytes + 1),
      },
      body: "x".repeat(t.config.maxBodyBytes + 1),
    });
    assert.equal(tooBig.status, 413);
    assert.match((await tooBig.json()).error.message, /larger than/);
  },
);

backendTest(
  "POST /api/login says passwordChangeRequired, and other calls name the change to make",
  async (t) => {
    await createUser(t.svc, t.admin, {
      email: "otp@example.org",
      password: "one-time-password-9",
      mustChangePassword: true,
    });
    const { me, call } = await signedIn(t, "otp@example.org", "one-time-password-9");
    assert.equal(me.passwordChangeRequired, true);
    assert.equal((await call("GET", "/api/me")).body.passwordChangeRequired, true);
    const refused = await call("GET", "/api/folders");
    assert.equal(refused.status, 403);
    assert.match(
      refused.body.error.message,
      /POST \/api\/me\/password with \{"currentPassword": "…", "newPassword": "…"\}/,
    );
    assert.deepEqual(refused.body.error.details, {
      call: {
        method: "POST",
        path: "/api/me/password",
        body: { currentPassword: "string", newPassword: "string" },
      },
    });
    // The description of the change stays readable meanwhile.
    assert.equal((await call("GET", "/api/openapi.json")).status, 200);
    assert.equal((await call("GET", "/api/docs")).status, 200);

    const changed = await call("POST", "/api/me/password", {
      currentPassword: "one-time-password-9",
      newPassword: "a-chosen-password-9",
    });
    assert.equal(changed.status, 200);
    assert.equal((await call("GET", "/api/me")).body.passwordChangeRequired, false);
    assert.equal((await call("GET", "/api/folders")).status, 200);
  },
);

backendTest(
  "the JSON API and CSV export keep a Decimal's scale and write dates in ISO 8601",
  async (t) => {
    const { call } = await signedIn(t);
    const list = await call("POST", "/api/folders/2/lists", {
      name: "doses",
      key: "Id",
      autoKey: true,
      columns: [
        { name: "Dose", type: "Decimal" },
        { name: "Day", type: "Date" },
        { name: "Seen", type: "DateTime" },
        { name: "Logged", type: "Timestamp" },
      ],
    });
    assert.equal(list.status, 201, JSON.stringify(list.body));
    const imported = await call("POST", `/api/lists/${list.body.id}/import`, {
      text: "Dose,Day,Seen,Logged\n12.50,2024-02-29,2024-02-29 08:30,2024-02-29 08:30:00.5+02:00\n",
      format: "csv",
    });
    assert.deepEqual(imported.body, { inserted: 1 });
    const stored = {
      Id: 1,
      Dose: "12.50",
      Day: "2024-02-29",
      Seen: "2024-02-29T08:30:00",
      Logged: "2024-02-29T06:30:00.5Z",
    };
    assert.deepEqual((await call("GET", `/api/lists/${list.body.id}/rows`)).body.rows, [stored]);
    const csv = await call("GET", `/api/lists/${list.body.id}/export`);
    assert.equal(
      csv.body,
      "Id,Dose,Day,Seen,Logged\r\n1,12.50,2024-02-29,2024-02-29T08:30:00,2024-02-29T06:30:00.5Z\r\n",
    );
    // What comes out goes back in unchanged.
    const again = await call("POST", `/api/lists/${list.body.id}/rows`, {
      rows: [{ ...stored, Id: undefined }],
    });
    assert.deepEqual(again.body.rows, [{ ...stored, Id: 2 }]);
  },
);

/** Every operation of an OpenAPI document, with its method and path. */
function operations(doc: { paths: Record<string, Record<string, Record<string, unknown>>> }) {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ method, path, operation }))
  );
}

backendTest(
  "GET /api/openapi.json is a valid OpenAPI 3.1 document of every API route",
  async (t) => {
    const response = await new TestBrowser(createApp(t.svc)).get("/api/openapi.json");
    assert.equal(response.status, 200);
    const doc = await response.json();
    const validation = await new Validator().validate(doc);
    assert.deepEqual(validation.errors ?? [], [], "the document breaks the OpenAPI 3.1 schema");
    assert.equal(validation.valid, true);
    assert.equal(doc.openapi, "3.1.0");
    assert.deepEqual(doc.servers, [{ url: "http://localhost" }]);
    for (
      const path of [
        "/api/login",
        "/api/me/password",
        "/api/folders",
        "/api/folders/{id}/policy",
        "/api/folders/{id}/lists",
        "/api/lists/{id}/rows",
        "/api/lists/{id}/import",
        "/api/users",
        "/api/groups/{id}/members/{userId}",
        "/api/audit",
      ]
    ) {
      assert.ok(doc.paths[path], `missing ${path}`);
    }
    assert.ok(doc.components.schemas.NewList);
    // The key and token doors' calls, with their methods and shapes.
    const methods = (path: string) => Object.keys(doc.paths[path] ?? {}).sort();
    assert.deepEqual(methods("/api/keys"), ["get", "post"]);
    assert.deepEqual(methods("/api/keys/{id}"), ["delete", "patch"]);
    assert.deepEqual(methods("/api/tokens/request"), ["post"]);
    assert.deepEqual(methods("/api/external-apps"), ["get", "post"]);
    assert.deepEqual(methods("/api/external-apps/{id}"), ["delete", "patch"]);
    assert.deepEqual(methods("/api/tokens"), ["get", "post"]);
    assert.deepEqual(methods("/api/settings/{section}"), ["get", "patch"]);
    for (
      const schema of ["ApiKey", "NewApiKey", "CreatedApiKey", "TokenRequest", "RequestedToken"]
    ) {
      assert.ok(doc.components.schemas[schema], `missing schema ${schema}`);
    }
    assert.deepEqual(doc.components.schemas.NewApiKey.properties.kind.enum, [
      "api_key",
      "session_key",
    ]);

    // Every credential is declared, and every operation says which it takes.
    const schemes = doc.components.securitySchemes;
    assert.deepEqual(Object.keys(schemes).sort(), [
      "apiKey",
      "apiKeyHeader",
      "appUserPassword",
      "csrf",
      "session",
      "sessionKey",
      "token",
    ]);
    assert.deepEqual([schemes.apiKeyHeader.in, schemes.apiKeyHeader.name], ["header", "apikey"]);
    assert.deepEqual([schemes.session.in, schemes.session.name], ["cookie", "labgate_session"]);
    const all = operations(doc);
    const ids = all.map(({ operation }) => operation.operationId);
    assert.equal(new Set(ids).size, all.length, "operationIds are missing or repeated");
    for (const { method, path, operation } of all) {
      const where = `${method} ${path}`;
      assert.ok(Array.isArray(operation.security), `${where} declares no security`);
      for (const requirement of operation.security as Record<string, string[]>[]) {
        for (const name of Object.keys(requirement)) assert.ok(schemes[name], `${where}: ${name}`);
      }
      const responses = operation.responses as Record<string, { content?: object }>;
      for (const status of ["400", "401", "403", "404", "500"]) {
        assert.deepEqual(
          responses[status]?.content,
          { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          `${where} ${status}`,
        );
      }
      for (const param of (operation.parameters ?? []) as { in: string; required?: boolean }[]) {
        if (param.in === "path") assert.equal(param.required, true, `${where}: path parameter`);
      }
    }
    assert.deepEqual(doc.paths["/api/login"].post.security, []);
    assert.deepEqual(doc.paths["/api/lists/{id}/rows"].post.security[0], { session: [], csrf: [] });
    assert.deepEqual(doc.paths["/api/lists/{id}/rows"].get.security[0], { session: [] });
    // Import errors name the row and column of each refused value.
    const details = doc.components.schemas.ErrorDetails.properties;
    assert.deepEqual(Object.keys(details.errors.items.properties), ["row", "column", "message"]);
  },
);

backendTest("GET /api/docs serves the API reference from local files only", async (t) => {
  const browser = new TestBrowser(createApp(t.svc));
  const page = await browser.get("/api/docs");
  assert.equal(page.status, 200);
  const html = await page.text();
  const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(sources, [
    "/api/docs/swagger-ui.css",
    "/api/docs/swagger-ui-bundle.js",
    "/api/docs/start.js",
  ]);
  assert.doesNotMatch(html, /<script>|<style|style=/, "no inline script or style");
  assert.match(page.headers.get("content-security-policy")!, /script-src 'self'; style-src 'self'/);
  for (const source of sources) {
    const asset = await browser.get(source);
    assert.equal(asset.status, 200, source);
    const type = source.endsWith(".css") ? "text/css" : "text/javascript";
    assert.equal(asset.headers.get("content-type"), `${type}; charset=utf-8`, source);
    assert.ok((await asset.text()).length > 0, source);
  }
  const start = await (await browser.get("/api/docs/start.js")).text();
  assert.match(start, /url: "\/api\/openapi.json"/);
});

backendTest("GET /healthz checks the database", async (t) => {
  const response = await new TestBrowser(createApp(t.svc)).get("/healthz");
  assert.deepEqual(await response.json(), { status: "ok", database: t.backend });
});

backendTest("GET /api/audit pages with before and filters by outcome, user and time", async (t) => {
  const { call } = await signedIn(t);
  for (let i = 0; i < 25; i++) {
    t.svc.audit.record({
      door: "api",
      event: "probe",
      outcome: i < 5 ? "denied" : "ok",
      userEmail: i % 2 ? "ana@example.org" : "hana@example.org",
    });
  }
  const first = await call("GET", "/api/audit?event=probe&limit=10");
  assert.equal(first.status, 200);
  assert.equal(first.body.length, 10);
  const before = first.body.at(-1).id;
  const second = await call("GET", `/api/audit?event=probe&limit=10&before=${before}`);
  assert.ok(second.body.every((e: { id: number }) => e.id < before));
  assert.equal(second.body.length, 10);
  const oldest = await call("GET", "/api/audit?event=probe&limit=10&order=oldest");
  const ids = oldest.body.map((e: { id: number }) => e.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "oldest first");
  const after = await call(
    "GET",
    `/api/audit?event=probe&limit=10&order=oldest&after=${ids.at(-1)}`,
  );
  assert.ok(after.body.every((e: { id: number }) => e.id > ids.at(-1)));
  assert.equal(after.body.length, 10);
  const denied = await call("GET", "/api/audit?event=probe&outcome=denied");
  assert.equal(denied.body.length, 5);
  const ana = await call("GET", "/api/audit?event=probe&user=ANA@example.org");
  assert.equal(ana.body.length, 12, "the whole email, any case: not hana's");
  const later = new Date(Date.now() + 60_000).toISOString();
  assert.equal((await call("GET", `/api/audit?event=probe&from=${later}`)).body.length, 0);
  assert.equal((await call("GET", `/api/audit?event=probe&to=${later}`)).body.length, 25);
  assert.equal((await call("GET", "/api/audit?from=yesterday")).status, 400);
});

backendTest(
  "a script configures the site through the API: settings, certificate, sites, apps, tokens",
  async (t) => {
    const { call } = await signedIn(t);
    const keys = await call("GET", "/api/settings/keys");
    assert.equal(keys.status, 200);
    const changed = await call("PATCH", "/api/settings/keys", {
      apiKeys: true,
      apiKeyExpiries: ["1w"],
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual([changed.body.apiKeys, changed.body.apiKeyExpiries], [true, ["1w"]]);
    const door = await call("PATCH", "/api/settings/sql_door", { port: 70000 });
    assert.equal(door.status, 400);
    assert.match(door.body.error.message, /port/i);
    assert.equal((await call("GET", "/api/settings/sql_door")).body.port, 5435, "nothing changed");
    assert.equal((await call("GET", "/api/settings/nope")).status, 400);

    const certificate = await call("POST", "/api/sql-door/certificate");
    assert.equal(certificate.status, 200);
    assert.match(certificate.body.fingerprint, /^[0-9a-f]{64}$/);

    const site = await call("POST", "/api/remote-sites", {
      name: "Notebook",
      prefixes: ["https://notebook.example/lab/"],
    });
    assert.equal(site.status, 201, JSON.stringify(site.body));
    assert.equal((await call("GET", "/api/remote-sites")).body.length, 1);
    assert.equal((await call("DELETE", `/api/remote-sites/${site.body.id}`)).status, 200);

    const app = await call("POST", "/api/external-apps", {
      id: "plate-reader",
      description: "Reader",
      entryPoints: ["rest"],
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const disabled = await call("PATCH", "/api/external-apps/plate-reader", { status: "disabled" });
    assert.equal(disabled.body.status, "disabled");
    await call("PATCH", "/api/external-apps/plate-reader", { status: "active" });
    const appUser = await call("POST", "/api/users", {
      email: "reader-bot@example.org",
      userType: "app",
      externalAppId: "plate-reader",
    });
    assert.equal(appUser.status, 201, JSON.stringify(appUser.body));
    const token = await call("POST", "/api/tokens", {
      appId: "plate-reader",
      appUserId: appUser.body.id,
      status: "pending",
    });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    assert.match(token.body.token, /^lgt_/);
    const approved = await call("POST", `/api/tokens/${token.body.id}/approve`);
    assert.equal(approved.body.status, "active");
    const listed = await call("GET", "/api/tokens");
    assert.deepEqual(listed.body.map((x: { id: string }) => x.id), [token.body.id]);
    assert.equal(listed.body[0].token, undefined, "never the secret again");
    const off = await call("PATCH", `/api/tokens/${token.body.id}`, { status: "disabled" });
    assert.equal(off.body.status, "disabled");
    await t.svc.audit.flush();
    const events = await t.svc.db.selectFrom("audit_log").select("event").execute();
    assert.ok(events.some((e) => e.event === "settings.update"));
  },
);
