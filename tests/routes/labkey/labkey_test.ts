import assert from "node:assert/strict";
import { createApp } from "../../../routes/mod.ts";
import { createContainer, setPolicy } from "../../../src/data/containers.ts";
import { createList, getList } from "../../../src/data/lists.ts";
import { insertRows, selectRows } from "../../../src/data/rows.ts";
import { createUser } from "../../../src/data/users.ts";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  backendTest,
  type TestContext,
} from "../../_support/backends.ts";
import { TestBrowser } from "../../_support/http.ts";

const READER = { email: "rita@example.org", password: "reader-password" };
const EDITOR = { email: "ed@example.org", password: "editor-password" };

/** /home/lab with a samples list; Rita reads it, Ed edits it; /home/secret is admin-only. */
async function setUp(t: TestContext) {
  const reader = await createUser(t.svc, t.admin, { ...READER, displayName: "Rita" });
  const editor = await createUser(t.svc, t.admin, { ...EDITOR, displayName: "Ed" });
  await createContainer(t.svc, t.admin, { parentPath: "/home", name: "lab", inheritPolicy: false });
  await setPolicy(t.svc, t.admin, "/home/lab", {
    inherit: false,
    assignments: [
      { principalId: reader.id, role: "reader" },
      { principalId: editor.id, role: "editor" },
    ],
  });
  await createContainer(t.svc, t.admin, {
    parentPath: "/home",
    name: "secret",
    inheritPolicy: false,
  });
  await setPolicy(t.svc, t.admin, "/home/secret", { inherit: false, assignments: [] });
  const def = await createList(t.svc, t.admin, "/home/lab", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [
      { name: "Name", type: "Text", required: true },
      { name: "Grams", type: "Double" },
      { name: "Taken", type: "DateTime" },
    ],
  });
  await insertRows(t.svc, t.admin, def, [
    { Name: "alpha", Grams: 1.5, Taken: "2024-01-02 10:00" },
    { Name: "beta", Grams: 3, Taken: "2024-01-03 11:00" },
    { Name: "gamma", Grams: 0.5, Taken: "2024-01-02 23:00" },
    { Name: "delta", Grams: null, Taken: null },
  ]);
}

/** A client signed in with a session cookie, sending X-LABKEY-CSRF as the Python client does. */
async function client(t: TestContext, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  const browser = new TestBrowser(createApp(t.svc));
  const login = await browser.json("POST", "/api/login", { email, password });
  assert.equal(login.status, 200);
  const whoami = await (await browser.get("/home/login-whoami.api")).json();
  const csrf = { "X-LABKEY-CSRF": whoami.CSRF };
  const read = async (r: Response) => ({ status: r.status, body: await r.json() });
  return {
    browser,
    whoami,
    get: async (path: string) => await read(await browser.get(path)),
    postJson: async (path: string, body: unknown, headers: Record<string, string> = csrf) =>
      await read(await browser.json("POST", path, body, headers)),
    postForm: async (path: string, fields: Record<string, string>) =>
      await read(
        await browser.request(path, {
          method: "POST",
          headers: csrf,
          body: new URLSearchParams(fields),
        }),
      ),
  };
}

async function names(t: TestContext): Promise<string[]> {
  const def = await getList(t.svc, t.admin, "/home/lab", "samples");
  return (await selectRows(t.svc, t.admin, def, { sort: [{ column: "Id" }] })).rows.map((r) =>
    String(r.Name)
  );
}

const SELECT = "schemaName=lists&query.queryName=samples";

backendTest("selectRows() answers both URL styles in LabKey's 8.3 and 9.1 shapes", async (t) => {
  await setUp(t);
  const api = await client(t, READER.email, READER.password);
  const dash = await api.get(`/home/lab/query-selectRows.api?${SELECT}`);
  const old = await api.get(`/query/home/lab/selectRows.view?${SELECT}`);
  assert.equal(dash.status, 200);
  assert.deepEqual(old, dash);
  const body = dash.body;
  assert.equal(body.schemaName, "lists");
  assert.equal(body.queryName, "samples");
  assert.equal(body.formatVersion, 8.3);
  assert.equal(body.rowCount, 4);
  assert.deepEqual(body.rows[0], {
    Id: 1,
    Name: "alpha",
    Grams: 1.5,
    Taken: "2024/01/02 10:00:00",
  });
  assert.equal(body.metaData.root, "rows");
  assert.equal(body.metaData.totalProperty, "rowCount");
  assert.equal(body.metaData.id, "Id");
  assert.deepEqual(
    body.metaData.fields.map((f: { name: string; jsonType: string }) => `${f.name}:${f.jsonType}`),
    ["Id:int", "Name:string", "Grams:float", "Taken:date"],
  );
  assert.deepEqual(body.columnModel.map((c: { dataIndex: string }) => c.dataIndex), [
    "Id",
    "Name",
    "Grams",
    "Taken",
  ]);

  const wrapped = await api.get(`/home/lab/query-selectRows.api?${SELECT}&apiVersion=9.1`);
  assert.equal(wrapped.body.formatVersion, 9.1);
  assert.deepEqual(wrapped.body.rows[1].Name, { value: "beta" });

  // The Python client: POST form fields to query-getQuery.api with X-LABKEY-CSRF.
  const python = await api.postForm("/home/lab/query-getQuery.api", {
    schemaName: "lists",
    "query.queryName": "samples",
    "query.Name~eq": "beta",
    apiVersion: "17.1",
  });
  assert.equal(python.status, 200);
  assert.deepEqual(python.body.rows, [{
    data: {
      Id: { value: 2 },
      Name: { value: "beta" },
      Grams: { value: 3 },
      Taken: { value: "2024/01/03 11:00:00" },
    },
    links: null,
  }]);
  assert.deepEqual(python.body.schemaName, ["lists"]);
  assert.deepEqual(python.body.metaData.fields[1].fieldKey, ["Name"]);

  // The JavaScript API: a JSON body.
  const js = await api.postJson("/query/home/lab/selectRows.api", {
    schemaName: "lists",
    queryName: "samples",
    "query.columns": "Name",
    "query.maxRows": 1,
  });
  assert.deepEqual(js.body.rows, [{ Name: "alpha" }]);
  assert.equal(js.body.rowCount, 4);

  await t.svc.audit.flush();
  const audit = await t.svc.db.selectFrom("audit_log").selectAll()
    .where("event", "=", "query.selectRows").execute();
  assert.equal(audit.length, 4);
  assert.equal(audit[0].door, "api");
  assert.equal(audit[0].detail, "lists.samples");
  assert.equal(audit[0].container_path, "/home/lab");
  assert.equal(audit[0].user_email, READER.email);
});

backendTest("selectRows() filters, sorts and pages as LabKey clients ask", async (t) => {
  await setUp(t);
  const api = await client(t, READER.email, READER.password);
  const rows = async (query: string) => {
    const r = await api.get(`/home/lab/query-selectRows.api?${SELECT}&${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.rows.map((row: { Name: string }) => row.Name);
  };
  assert.deepEqual(await rows("query.Grams~gt=1"), ["alpha", "beta"]);
  assert.deepEqual(await rows("query.Grams~lte=1.5&query.sort=-Grams"), ["alpha", "gamma"]);
  assert.deepEqual(await rows("query.Name~in=alpha;delta"), ["alpha", "delta"]);
  assert.deepEqual(await rows("query.Name~notin=alpha;delta"), ["beta", "gamma"]);
  assert.deepEqual(await rows("query.Name~in=alpha&query.Name~in=beta"), ["alpha", "beta"]);
  assert.deepEqual(await rows("query.Name~startswith=AL"), ["alpha"]);
  assert.deepEqual(await rows("query.Name~contains=ET"), ["beta"]);
  assert.deepEqual(await rows("query.Name~doesnotcontain=a&query.sort=Name"), []);
  assert.deepEqual(await rows("query.Grams~isblank="), ["delta"]);
  assert.deepEqual(await rows("query.Grams~isnonblank=&query.sort=Grams"), [
    "gamma",
    "alpha",
    "beta",
  ]);
  assert.deepEqual(await rows("query.Taken~dateeq=2024-01-02"), ["alpha", "gamma"]);
  assert.deepEqual(await rows("query.Grams~between=1,3"), ["alpha", "beta"]);
  assert.deepEqual(await rows("query.Grams~neqornull=3"), ["alpha", "gamma", "delta"]);
  assert.deepEqual(await rows("query.Name~containsoneof=lph;amm"), ["alpha", "gamma"]);
  assert.deepEqual(await rows("query.sort=-Name&query.maxRows=2&query.offset=1"), [
    "delta",
    "beta",
  ]);
  const paged = await api.get(`/home/lab/query-selectRows.api?${SELECT}&maxRows=1&offset=3`);
  assert.equal(paged.body.rowCount, 4);
  assert.equal(paged.body.rows.length, 1);
  const filtered = await api.get(`/home/lab/query-selectRows.api?${SELECT}&query.Grams~gt=1`);
  assert.equal(filtered.body.rowCount, 2, "the total counts the filtered rows");
  const past = await api.get(`/home/lab/query-selectRows.api?${SELECT}&maxRows=2&offset=9`);
  assert.deepEqual([past.body.rowCount, past.body.rows.length], [4, 0]);
  // Clients that skip the total get the number of rows returned, as from LabKey.
  const uncounted = await api.get(
    `/home/lab/query-selectRows.api?${SELECT}&maxRows=2&includeTotalCount=false`,
  );
  assert.deepEqual([uncounted.body.rowCount, uncounted.body.rows.length], [2, 2]);

  const bad = await api.get(`/home/lab/query-selectRows.api?${SELECT}&query.Name~like=a`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.exceptionClass, "org.labkey.api.action.ApiUsageException");
  assert.equal(bad.body.success, false);
  assert.match(bad.body.exception, /Unknown filter "like"/);
});

backendTest("insertRows(), updateRows() and deleteRows() write in one transaction", async (t) => {
  await setUp(t);
  const api = await client(t, EDITOR.email, EDITOR.password);
  const body = (rows: unknown[]) => ({ schemaName: "lists", queryName: "samples", rows });

  const inserted = await api.postJson(
    "/home/lab/query-insertRows.api",
    body([{ Name: "epsilon", Grams: 2 }, { Name: "zeta" }]),
  );
  assert.equal(inserted.status, 200);
  assert.equal(inserted.body.command, "insert");
  assert.equal(inserted.body.rowsAffected, 2);
  assert.equal(inserted.body.containerPath, "/home/lab");
  assert.equal(inserted.body.queryName, "samples");
  assert.equal(inserted.body.schemaName, "lists");
  assert.deepEqual(inserted.body.rows.map((r: { Id: number }) => r.Id), [5, 6]);

  const updated = await api.postJson(
    "/query/home/lab/updateRows.api",
    body([{ Id: 6, Name: "eta" }]),
  );
  assert.equal(updated.status, 200);
  assert.equal(updated.body.command, "update");
  assert.equal(updated.body.rows[0].Name, "eta");

  const deleted = await api.postJson("/home/lab/query-deleteRows.api", body([{ id: 5 }]));
  assert.equal(deleted.status, 200);
  assert.equal(deleted.body.command, "delete");
  assert.equal(deleted.body.rowsAffected, 1);
  assert.deepEqual(await names(t), ["alpha", "beta", "gamma", "delta", "eta"]);

  const broken = await api.postJson(
    "/home/lab/query-insertRows.api",
    body([{ Name: "ok" }, { Name: "bad", Grams: "heavy" }]),
  );
  assert.equal(broken.status, 400);
  assert.equal(broken.body.success, false);
  assert.equal(broken.body.errors[0].field, "Grams");
  assert.equal(broken.body.errors[0].rowNumber, 2);
  const missing = await api.postJson(
    "/home/lab/query-updateRows.api",
    body([{ Id: 99, Name: "x" }]),
  );
  assert.equal(missing.status, 400);

  const noCsrf = await api.postJson(
    "/home/lab/query-insertRows.api",
    body([{ Name: "forged" }]),
    {},
  );
  assert.equal(noCsrf.status, 403);
  assert.equal(noCsrf.body.exceptionClass, "org.labkey.api.view.UnauthorizedException");
  const noCsrfOld = await api.postJson(
    "/query/home/lab/deleteRows.api",
    body([{ Id: 1 }]),
    {},
  );
  assert.equal(noCsrfOld.status, 403);
  assert.deepEqual(await names(t), ["alpha", "beta", "gamma", "delta", "eta"]);
});

backendTest("insertRows() by a reader answers 403 and changes nothing", async (t) => {
  await setUp(t);
  const api = await client(t, READER.email, READER.password);
  const body = { schemaName: "lists", queryName: "samples", rows: [{ Name: "sneaky" }] };
  for (const path of ["/home/lab/query-insertRows.api", "/query/home/lab/insertRows.api"]) {
    const r = await api.postJson(path, body);
    assert.equal(r.status, 403);
    assert.equal(r.body.success, false);
  }
  const update = await api.postJson("/home/lab/query-updateRows.api", {
    ...body,
    rows: [{ Id: 1, Name: "renamed" }],
  });
  assert.equal(update.status, 403);
  const del = await api.postJson("/home/lab/query-deleteRows.api", { ...body, rows: [{ Id: 1 }] });
  assert.equal(del.status, 403);
  assert.deepEqual(await names(t), ["alpha", "beta", "gamma", "delta"]);

  await t.svc.audit.flush();
  const denied = await t.svc.db.selectFrom("audit_log").select("event")
    .where("outcome", "=", "denied").where("event", "like", "query.%").execute();
  assert.equal(denied.length, 4);
});

backendTest("executeSql() runs one read-only SELECT over the folder's lists", async (t) => {
  await setUp(t);
  const api = await client(t, EDITOR.email, EDITOR.password);
  const run = async (sql: string, extra: Record<string, unknown> = {}, path = "/home/lab") =>
    await api.postJson(`${path}/query-executeSql.api`, { schemaName: "lists", sql, ...extra });

  const ok = await run(
    "select s.Name, s.Grams * 2 as double_grams from lists.samples s where s.Grams > 1 order by s.Name",
  );
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body.rows, [
    { Name: "alpha", double_grams: 3 },
    { Name: "beta", double_grams: 6 },
  ]);
  assert.equal(ok.body.rowCount, 2);
  assert.deepEqual(
    ok.body.metaData.fields.map((f: { name: string; type: string }) => `${f.name}:${f.type}`),
    ["Name:string", "double_grams:int"],
  );
  assert.deepEqual(ok.body.columnModel.map((c: { dataIndex: string }) => c.dataIndex), [
    "Name",
    "double_grams",
  ]);

  // Rlabkey: JSON body, the SQL hidden from web application firewalls.
  const hidden = "select Taken from samples where Id = 2";
  const rlabkey = await api.postJson("/home/lab/query-executeSql.api", {
    schemaName: "lists",
    sql: "/*{{base64/x-www-form-urlencoded/wafText}}*/" + btoa(encodeURIComponent(hidden)),
    apiVersion: "8.3",
  });
  assert.deepEqual(rlabkey.body.rows, [{ Taken: "2024/01/03 11:00:00" }]);
  assert.equal(rlabkey.body.metaData.fields[0].type, "date");

  const old = await api.postJson("/query/home/lab/executeSql.api", {
    schemaName: "lists",
    sql:
      "with heavy as (select name from samples where grams >= 1.5) select count(*)::int as n from heavy",
    apiVersion: 9.1,
  });
  assert.deepEqual(old.body.rows, [{ n: { value: 2 } }]);
  const unicode = await run(
    "select 'μg → ✓' as unit, n.name from lists . \"samples\" n where n.id = 1",
  );
  assert.deepEqual(unicode.body.rows, [{ unit: "μg → ✓", Name: "alpha" }]);
  const recursive = await run(
    "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3) " +
      "select i from n order by i",
  );
  assert.deepEqual(recursive.body.rows, [{ i: 1 }, { i: 2 }, { i: 3 }]);

  const paged = await run("select name from samples order by id", { maxRows: 2, offset: 1 });
  assert.deepEqual(paged.body.rows, [{ Name: "beta" }, { Name: "gamma" }]);
  assert.equal(paged.body.rowCount, 4);

  for (
    const [sql, message] of [
      ["delete from lists.samples", /Only SELECT/],
      ["select 1; delete from samples", /exactly one/],
      ["select * from lg_app.users", /Only this folder's lists/],
      ["select * from pg_catalog.pg_roles", /Only this folder's lists/],
      ["select set_config('role', 'postgres', true)", /set_config\(\) is not allowed/],
      ["select pg_sleep(10)", /pg_sleep\(\) is not allowed/],
      ["select * into lists.copy from samples", /read-only/],
      ["select * from samples for update", /read-only/],
      ["select * from nothere", /No list named nothere/],
      ["with x as (delete from samples returning *) select * from x", /DELETE changes data/],
      [
        "with pg_roles as (select * from pg_roles) select * from pg_roles",
        /No list named pg_roles/,
      ],
      [
        "select * from (with pg_roles as (select 1) select * from pg_roles) a, pg_roles",
        /No list named pg_roles/,
      ],
      ["select from where", /syntax error/],
    ] as const
  ) {
    const refused = await run(sql);
    assert.equal(refused.status, 400, sql);
    assert.match(refused.body.exception, message, sql);
    assert.equal(refused.body.success, false);
  }
  assert.deepEqual(await names(t), ["alpha", "beta", "gamma", "delta"]);

  const outsider = await run("select * from samples", {}, "/home/secret");
  assert.equal(outsider.status, 404);
});

backendTest("an unreadable folder answers 404 exactly like a missing one", async (t) => {
  await setUp(t);
  const api = await client(t, READER.email, READER.password);
  for (
    const action of ["query-selectRows.api", "query-executeSql.api", "project-getContainers.view"]
  ) {
    const secret = await api.get(`/home/secret/${action}?${SELECT}&sql=select%201`);
    const missing = await api.get(`/home/nowhere/${action}?${SELECT}&sql=select%201`);
    assert.equal(secret.status, 404);
    assert.equal(missing.status, 404);
    assert.deepEqual(
      JSON.parse(JSON.stringify(secret.body).replaceAll("/home/secret", "/home/nowhere")),
      missing.body,
    );
  }
  const anonymous = new TestBrowser(createApp(t.svc));
  const r = await anonymous.get(`/home/lab/query-selectRows.api?${SELECT}`);
  assert.equal(r.status, 401);
  const body = await r.json();
  assert.equal(body.exceptionClass, "org.labkey.api.view.UnauthorizedException");
  assert.equal(body.success, false);
  const badSchema = await anonymous.get("/home/lab/query-selectRows.api?schemaName=nope");
  assert.equal(badSchema.status, 401);
  const guest = await (await anonymous.get("/login-whoami.api")).json();
  assert.equal(guest.displayName, "guest");
});

backendTest("metadata, folder and domain actions answer as LabKey does", async (t) => {
  await setUp(t);
  const api = await client(t);
  assert.equal(api.whoami.email, ADMIN_EMAIL);
  assert.equal(api.whoami.success, true);
  assert.equal(typeof api.whoami.CSRF, "string");
  assert.ok(api.whoami.CSRF.length > 10);

  const schemas = await api.get("/home/lab/query-getSchemas.api");
  assert.deepEqual(schemas.body, { schemas: ["lists"] });
  const queries = await api.get("/query/home/lab/getQueries.api?schemaName=lists");
  assert.equal(queries.body.queries[0].name, "samples");
  assert.equal(
    queries.body.queries[0].columns[2].rangeURI,
    "http://www.w3.org/2001/XMLSchema#double",
  );
  const details = await api.get(
    "/home/lab/query-getQueryDetails.api?schemaName=lists&queryName=samples",
  );
  assert.equal(details.body.columns[0].isKeyField, true);

  const tree = await api.get("/home/project-getContainers.view?includeSubfolders=true");
  assert.equal(tree.body.path, "/home");
  assert.equal(tree.body.userPermissions, 0x800f);
  assert.ok(
    tree.body.effectivePermissions.includes("org.labkey.api.security.permissions.AdminPermission"),
  );
  assert.deepEqual(tree.body.children.map((c: { path: string }) => c.path), [
    "/home/lab",
    "/home/secret",
  ]);
  const readerTree = await (await client(t, READER.email, READER.password))
    .get("/project/home/lab/getContainers.view");
  assert.equal(readerTree.body.userPermissions, 1);
  assert.deepEqual(readerTree.body.children, []);

  const folder = await api.postJson("/home/lab/core-createContainer.api", { name: "plate1" });
  assert.equal(folder.status, 200);
  assert.equal(folder.body.path, "/home/lab/plate1");

  const domain = await api.postJson("/home/lab/plate1/property-createDomain.api", {
    kind: "IntList",
    domainDesign: {
      name: "wells",
      fields: [
        { name: "Well", rangeURI: "http://www.w3.org/2001/XMLSchema#string", required: true },
        { name: "Signal", rangeURI: "http://www.w3.org/2001/XMLSchema#double" },
        { name: "Read", rangeURI: "http://www.w3.org/2001/XMLSchema#dateTime" },
      ],
    },
    options: { keyName: "WellId" },
  });
  assert.equal(domain.status, 200, JSON.stringify(domain.body));
  const fetched = await api.get(
    "/property/home/lab/plate1/getDomain.api?schemaName=lists&queryName=wells",
  );
  assert.deepEqual(
    fetched.body.fields.map((f: { name: string; rangeURI: string }) =>
      `${f.name}:${f.rangeURI.split("#")[1]}`
    ),
    ["WellId:int", "Well:string", "Signal:double", "Read:dateTime"],
  );
  const badKind = await api.postJson("/home/lab/property-createDomain.api", {
    kind: "SampleSet",
    domainDesign: { name: "x", fields: [] },
  });
  assert.equal(badKind.status, 400);

  const users = await api.get("/home/lab/user-getUsers.api");
  assert.deepEqual(users.body.users.map((u: { email: string }) => u.email), [
    ADMIN_EMAIL,
    EDITOR.email,
    READER.email,
  ]);
  const some = await api.get("/home/lab/user-getUsers.api?name=ri");
  assert.deepEqual(some.body.users.map((u: { displayName: string }) => u.displayName), ["Rita"]);
});

backendTest(
  "every action answers both URL styles alike and POST needs the CSRF header",
  async (t) => {
    await setUp(t);
    const api = await client(t);
    const reads = [
      ["query", "selectRows", SELECT],
      ["query", "getQuery", `${SELECT}&apiVersion=9.1`],
      ["query", "executeSql", "schemaName=lists&sql=select%20name%20from%20samples"],
      ["query", "getSchemas", "apiVersion=9.3"],
      ["query", "getQueries", "schemaName=lists"],
      ["query", "getQueryDetails", "schemaName=lists&queryName=samples"],
      ["project", "getContainers", "includeSubfolders=true"],
      ["property", "getDomain", "schemaName=lists&queryName=samples"],
      ["user", "getUsers", ""],
    ];
    for (const [controller, action, query] of reads) {
      for (const suffix of ["api", "view"]) {
        const dash = await api.get(`/home/lab/${controller}-${action}.${suffix}?${query}`);
        const old = await api.get(`/${controller}/home/lab/${action}.${suffix}?${query}`);
        assert.equal(dash.status, 200, `${controller}-${action}: ${JSON.stringify(dash.body)}`);
        assert.deepEqual(old, dash, `${controller}-${action}`);
      }
    }

    const writes: [string, unknown][] = [
      ["query-insertRows", { schemaName: "lists", queryName: "samples", rows: [{ Name: "x" }] }],
      ["query-updateRows", {
        schemaName: "lists",
        queryName: "samples",
        rows: [{ Id: 1, Name: "x" }],
      }],
      ["query-deleteRows", { schemaName: "lists", queryName: "samples", rows: [{ Id: 1 }] }],
      ["core-createContainer", { name: "forged" }],
      ["property-createDomain", {
        kind: "VarList",
        domainDesign: { name: "forged", fields: [{ name: "Code" }] },
        options: { keyName: "Code" },
      }],
    ];
    for (const [action, body] of writes) {
      const [controller, name] = action.split("-");
      const dash = await api.postJson(`/home/lab/${action}.api`, body, {});
      const old = await api.postJson(`/${controller}/home/lab/${name}.api`, body, {});
      assert.equal(dash.status, 403, action);
      assert.equal(old.status, 403, action);
      assert.equal(dash.body.success, false);
    }
    assert.deepEqual(await names(t), ["alpha", "beta", "gamma", "delta"]);
    const tree = await api.get("/home/lab/project-getContainers.view?includeSubfolders=true");
    assert.deepEqual(tree.body.children, []);
    const queries = await api.get("/home/lab/query-getQueries.api?schemaName=lists");
    assert.deepEqual(queries.body.queries.map((q: { name: string }) => q.name), ["samples"]);

    const created = await api.postJson("/core/home/lab/createContainer.api", { name: "plate2" });
    assert.equal(created.status, 200);
    const domain = await api.postJson("/property/home/lab/createDomain.api", {
      kind: "VarList",
      domainDesign: { name: "codes", fields: [{ name: "Code" }, { name: "Label" }] },
      options: { keyName: "Code" },
    });
    assert.equal(domain.status, 200, JSON.stringify(domain.body));
    assert.deepEqual(
      domain.body.fields.map((f: { name: string; isPrimaryKey: boolean }) =>
        `${f.name}:${f.isPrimaryKey}`
      ),
      ["Code:true", "Label:false"],
    );
  },
);

backendTest(
  "selectRows, executeSql and insertRows write Decimal and date values as LabKey Server does",
  async (t) => {
    await createContainer(t.svc, t.admin, { parentPath: "/home", name: "lab" });
    const def = await createList(t.svc, t.admin, "/home/lab", {
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
    await insertRows(t.svc, t.admin, def, [{
      Dose: "12.50",
      Day: "2024-02-29",
      Seen: "2024-02-29 08:30:00.25",
      Logged: "2024-02-29 08:30:00+02:00",
    }]);
    const api = await client(t);
    const expected = {
      Id: 1,
      Dose: 12.5,
      Day: "2024/02/29 00:00:00",
      Seen: "2024/02/29 08:30:00.25",
      Logged: "2024/02/29 06:30:00",
    };
    // A JSON number printed with its scale, as LabKey writes a BigDecimal.
    const raw = await (await api.browser.get(
      "/home/lab/query-selectRows.api?schemaName=lists&query.queryName=doses",
    )).text();
    assert.match(raw, /"Dose":12\.50,/);
    assert.deepEqual(JSON.parse(raw).rows, [expected]);

    const sql = await api.browser.json("POST", "/home/lab/query-executeSql.api", {
      schemaName: "lists",
      sql: "select Id, Dose, Day, Seen, Logged from doses",
    }, { "X-LABKEY-CSRF": api.whoami.CSRF });
    const sqlText = await sql.text();
    assert.match(sqlText, /"Dose":12\.50,/);
    assert.deepEqual(JSON.parse(sqlText).rows, [expected]);

    const inserted = await api.postJson("/home/lab/query-insertRows.api", {
      schemaName: "lists",
      queryName: "doses",
      rows: [{ Dose: "0.10", Day: "2024-03-01" }],
    });
    assert.deepEqual(inserted.body.rows, [{
      Id: 2,
      Dose: 0.1,
      Day: "2024/03/01 00:00:00",
      Seen: null,
      Logged: null,
    }]);
  },
);

backendTest("whoAmI answers every field LabKey's Python client reads", async (t) => {
  await setUp(t);
  const { whoami } = await client(t, READER.email, READER.password);
  // security.who_am_i() builds WhoAmI(id, email, displayName, impersonated, CSRF) from these.
  for (const field of ["id", "email", "displayName", "impersonated", "CSRF", "success"]) {
    assert.ok(field in whoami, `whoAmI has ${field}`);
  }
  assert.equal(whoami.impersonated, false);
  assert.equal(whoami.email, READER.email);
  const guest = await (await new TestBrowser(createApp(t.svc)).get("/home/login-whoAmI.api"))
    .json();
  assert.equal(guest.impersonated, false);
});

backendTest("selectRows() honours containerFilter with the caller's permissions", async (t) => {
  await setUp(t);
  await createContainer(t.svc, t.admin, { parentPath: "/home/lab", name: "plate1" });
  const sub = await createList(t.svc, t.admin, "/home/lab/plate1", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }, { name: "Grams", type: "Double" }],
  });
  await insertRows(t.svc, t.admin, sub, [{ Name: "epsilon", Grams: 2 }]);
  const hidden = await createList(t.svc, t.admin, "/home/secret", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }, { name: "Grams", type: "Double" }],
  });
  await insertRows(t.svc, t.admin, hidden, [{ Name: "classified", Grams: 9 }]);
  const rita = await client(t, READER.email, READER.password);
  const base =
    `/home/lab/query-selectRows.api?${SELECT}&query.sort=-Grams&query.columns=Name,Grams`;
  const current = await rita.get(base);
  assert.equal(current.body.rowCount, 4);
  const withSub = await rita.get(`${base}&containerFilter=CurrentAndSubfolders`);
  assert.equal(withSub.body.rowCount, 5);
  // Merged in PostgreSQL's order: descending puts nulls first.
  assert.deepEqual(withSub.body.rows.map((r: { Name: string }) => r.Name), [
    "delta",
    "beta",
    "epsilon",
    "alpha",
    "gamma",
  ]);
  const all = await rita.get(`${base}&query.containerFilterName=AllFolders&query.maxRows=2`);
  assert.equal(all.body.rowCount, 5, "the secret folder's list is not Rita's to read");
  assert.deepEqual(all.body.rows.map((r: { Name: string }) => r.Name), ["delta", "beta"]);
  const admin = await client(t);
  const everything = await admin.get(`${base}&containerFilter=AllFolders`);
  assert.equal(everything.body.rowCount, 6);
  const unknown = await rita.get(`${base}&containerFilter=CurrentPlusProjectAndShared`);
  assert.equal(unknown.status, 400);
  assert.match(
    unknown.body.exception,
    /containerFilter CurrentPlusProjectAndShared is not supported/,
  );
});

backendTest(
  "LabKey actions refuse saved views and unknown actions with LabKey's JSON error",
  async (t) => {
    await setUp(t);
    const rita = await client(t, READER.email, READER.password);
    const view = await rita.get(`/home/lab/query-selectRows.api?${SELECT}&query.viewName=mine`);
    assert.equal(view.status, 400);
    assert.equal(view.body.success, false);
    assert.match(view.body.exception, /viewName mine is not supported/);
    const defaultView = await rita.get(
      `/home/lab/query-selectRows.api?${SELECT}&query.viewName=~~DEFAULT~~&query.ignoreFilter=1`,
    );
    assert.equal(defaultView.status, 200);
    const unknown = await rita.browser.get("/home/lab/query-frobnicate.api");
    assert.equal(unknown.status, 404);
    assert.match(unknown.headers.get("content-type") ?? "", /json/);
    const body = await unknown.json();
    assert.equal(body.success, false);
    assert.match(body.exception, /no LabKey action query-frobnicate/);
  },
);
