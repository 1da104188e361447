import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
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
      rows: [{ Name: "NaCl", Grams: 5 }, { Name: "KCl" }],
    });
    assert.equal(inserted.status, 201);
    assert.deepEqual(inserted.body.rows, [{ Id: 1, Name: "NaCl", Grams: 5 }, {
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
      rows: [{ Id: 1, Name: "NaCl", Grams: 5 }],
      total: 2,
      limit: 1,
      offset: 0,
    });
    const updated = await call("PATCH", `/api/lists/${list.body.id}/rows`, {
      rows: [{ Id: 2, Grams: "0.5" }],
    });
    assert.deepEqual(updated.body.rows, [{ Id: 2, Name: "KCl", Grams: 0.5 }]);
    const deleted = await call("DELETE", `/api/lists/${list.body.id}/rows`, { keys: [3] });
    assert.deepEqual(deleted.body.rows, [{ Id: 3, Name: "MgCl2", Grams: 1.5 }]);
    const csv = await call("GET", `/api/lists/${list.body.id}/export`);
    assert.equal(csv.body, "Id,Name,Grams\r\n1,NaCl,5\r\n2,KCl,0.5\r\n");

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

backendTest("GET /api/openapi.json describes every API route", async (t) => {
  const response = await new TestBrowser(createApp(t.svc)).get("/api/openapi.json");
  assert.equal(response.status, 200);
  const doc = await response.json();
  assert.equal(doc.openapi, "3.1.0");
  for (
    const path of [
      "/login",
      "/folders",
      "/folders/{id}/policy",
      "/folders/{id}/lists",
      "/lists/{id}/rows",
      "/lists/{id}/import",
      "/users",
      "/groups/{id}/members/{userId}",
      "/audit",
    ]
  ) {
    assert.ok(doc.paths[path], `missing ${path}`);
  }
  assert.ok(doc.components.schemas.NewList);
  // The key and token doors' calls, with their methods and shapes.
  const methods = (path: string) => Object.keys(doc.paths[path] ?? {}).sort();
  assert.deepEqual(methods("/keys"), ["get", "post"]);
  assert.deepEqual(methods("/keys/{id}"), ["delete"]);
  assert.deepEqual(methods("/tokens/request"), ["post"]);
  assert.deepEqual(methods("/external-apps"), ["get"]);
  assert.deepEqual(methods("/external-apps/{id}"), ["delete"]);
  for (const schema of ["ApiKey", "NewApiKey", "CreatedApiKey", "TokenRequest", "RequestedToken"]) {
    assert.ok(doc.components.schemas[schema], `missing schema ${schema}`);
  }
  assert.deepEqual(doc.components.schemas.NewApiKey.properties.kind.enum, [
    "api_key",
    "session_key",
  ]);
  assert.equal(doc.components.securitySchemes.basic.scheme, "basic");
});

backendTest("GET /healthz checks the database", async (t) => {
  const response = await new TestBrowser(createApp(t.svc)).get("/healthz");
  assert.deepEqual(await response.json(), { status: "ok", database: t.backend });
});
