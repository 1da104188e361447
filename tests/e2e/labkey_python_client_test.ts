/**
 * The calls of LabKey's Python client (labkey-api-python), written here from
 * its documented API — `APIWrapper(domain, container_path, api_key=…)` with
 * `security.who_am_i`, `query.select_rows` (filters, columns, sort,
 * max_rows, container_filter), `query.execute_sql`, `query.insert_rows`,
 * `update_rows`, `delete_rows` — as the requests it sends: form posts for
 * reads, JSON for writes, the key as HTTP Basic `apikey:<key>`, and its
 * error handling (a non-2xx answer's JSON `exception`). PyPI is out of reach
 * here, so the client itself is not installed.
 */
import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { createSession } from "../../src/data/sessions.ts";
import { createContainer } from "../../src/data/containers.ts";
import { createList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { createApiKey } from "../../src/doors/keys/mod.ts";
import { backendTest } from "../_support/backends.ts";
import { enableKeys } from "../_support/keys.ts";
import { installed, runPython, skipped } from "./_clients.ts";

const CLIENT = `
import base64, json, sys, urllib.error, urllib.parse, urllib.request

class ServerError(Exception):
    pass

class APIWrapper:
    """Requests as labkey-api-python's ServerContext makes them."""
    def __init__(self, domain, container_path, api_key, use_ssl=False):
        self.base = ("https://" if use_ssl else "http://") + domain
        self.container_path = container_path.strip("/")
        self.auth = "Basic " + base64.b64encode(("apikey:" + api_key).encode()).decode()

    def build_url(self, controller, action, container_path=None):
        path = (container_path or self.container_path).strip("/")
        return "%s/%s/%s-%s" % (self.base, path, controller, action)

    def make_request(self, url, payload=None, json_body=None):
        headers = {"Authorization": self.auth}
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif payload is not None:
            data = urllib.parse.urlencode(payload, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read())
            raise ServerError("%d: %s" % (error.code, body.get("exception")))

    def who_am_i(self):
        r = self.make_request(self.build_url("login", "whoami.api"))
        return {"id": r["id"], "email": r["email"], "display_name": r["displayName"],
                "impersonated": r["impersonated"], "CSRF": r["CSRF"]}

    def select_rows(self, schema_name, query_name, filter_array=(), columns=None, sort=None,
                    max_rows=-1, container_filter=None, view_name=None):
        payload = {"schemaName": schema_name, "query.queryName": query_name}
        for column, op, value in filter_array:
            payload["query.%s~%s" % (column, op)] = value
        if columns: payload["query.columns"] = columns
        if sort: payload["query.sort"] = sort
        if max_rows >= 0: payload["query.maxRows"] = max_rows
        if container_filter: payload["containerFilter"] = container_filter
        if view_name: payload["query.viewName"] = view_name
        return self.make_request(self.build_url("query", "getQuery.api"), payload)

    def execute_sql(self, schema_name, sql):
        return self.make_request(self.build_url("query", "executeSql.api"),
                                 {"schemaName": schema_name, "sql": sql})

    def _write(self, action, schema_name, query_name, rows):
        return self.make_request(self.build_url("query", action),
                                 json_body={"schemaName": schema_name, "queryName": query_name,
                                            "rows": rows})

    def insert_rows(self, s, q, rows): return self._write("insertRows.api", s, q, rows)
    def update_rows(self, s, q, rows): return self._write("updateRows.api", s, q, rows)
    def delete_rows(self, s, q, rows): return self._write("deleteRows.api", s, q, rows)

api = APIWrapper(sys.argv[1], "home/lab", sys.argv[2])
out = {}
out["whoami"] = api.who_am_i()
r = api.select_rows("lists", "samples", [("Grams", "gte", "1")], columns="Name,Grams", sort="-Grams")
out["select"] = [row["Name"] for row in r["rows"]]
r = api.select_rows("lists", "samples", container_filter="CurrentAndSubfolders", sort="Name")
out["subfolders"] = [row["Name"] for row in r["rows"]]
out["sql"] = api.execute_sql("lists", "SELECT Name FROM samples WHERE Grams < 1")["rows"]
inserted = api.insert_rows("lists", "samples", [{"Name": "zeta", "Grams": 4}])["rows"]
key = inserted[0]["Id"]
api.update_rows("lists", "samples", [{"Id": key, "Grams": 5}])
api.delete_rows("lists", "samples", [{"Id": 1}])
out["after"] = sorted((row["Name"], row["Grams"]) for row in
                      api.select_rows("lists", "samples")["rows"])
try:
    api.select_rows("lists", "samples", view_name="mine")
    out["view"] = "no error"
except ServerError as error:
    out["view"] = str(error)
try:
    api.make_request(api.build_url("query", "frobnicate.api"))
except ServerError as error:
    out["unknown"] = str(error)
print(json.dumps(out))
`;

backendTest("LabKey's Python client calls work against labgate", async (t) => {
  if (!await installed("/usr/bin/python3")) return skipped("python3");
  await enableKeys(t);
  await createContainer(t.svc, t.admin, { parentPath: "/home", name: "lab" });
  await createContainer(t.svc, t.admin, { parentPath: "/home/lab", name: "plate1" });
  const columns = [{ name: "Name", type: "Text" as const }, {
    name: "Grams",
    type: "Double" as const,
  }];
  const lab = await createList(t.svc, t.admin, "/home/lab", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns,
  });
  await insertRows(t.svc, t.admin, lab, [{ Name: "alpha", Grams: 1.5 }, {
    Name: "beta",
    Grams: 0.5,
  }]);
  const plate = await createList(t.svc, t.admin, "/home/lab/plate1", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns,
  });
  await insertRows(t.svc, t.admin, plate, [{ Name: "gamma", Grams: 2 }]);
  const { session } = await createSession(t.svc, { userId: t.admin.userId });
  const { key } = await createApiKey(t.svc, {
    ...t.admin,
    session: { id: session.id, csrfToken: session.csrf_token },
  }, { expiry: "never" });
  const app = createApp(t.svc);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) =>
      app.fetch(request, { clientAddr: (info.remoteAddr as Deno.NetAddr).hostname }),
  );
  try {
    const result = await runPython(CLIENT, [`127.0.0.1:${server.addr.port}`, key]);
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.equal(out.whoami.email, t.admin.email);
    assert.equal(out.whoami.impersonated, false);
    assert.deepEqual(out.select, ["alpha"]);
    assert.deepEqual(out.subfolders, ["alpha", "beta", "gamma"]);
    assert.deepEqual(out.sql, [{ Name: "beta" }]);
    assert.deepEqual(out.after, [["beta", 0.5], ["zeta", 5]]);
    assert.match(out.view, /^400: viewName mine is not supported/);
    assert.match(out.unknown, /^404: This server has no LabKey action query-frobnicate/);
  } finally {
    await server.shutdown();
  }
});
