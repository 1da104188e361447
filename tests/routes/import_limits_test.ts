import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { createList } from "../../src/data/lists.ts";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  backendTest,
  type TestContext,
} from "../_support/backends.ts";
import { TestBrowser } from "../_support/http.ts";

/** A signed-in admin's import call, and the list it imports into. */
async function importer(t: TestContext) {
  const client = new TestBrowser(createApp(t.svc));
  const login = await client.json("POST", "/api/login", {
    email: ADMIN_EMAIL,
    password: ADMIN_PASSWORD,
  });
  const { csrfToken } = await login.json();
  const def = await createList(t.svc, t.admin, "/home", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }, { name: "Count", type: "Integer" }],
  });
  const post = (body: string, headers: Record<string, string> = {}) =>
    client.request(`/api/lists/${def.list.id}/import`, {
      method: "POST",
      headers: { "content-type": "text/csv", "x-csrf-token": csrfToken, ...headers },
      body,
    });
  const count = async () => {
    const rows = await client.get(`/api/lists/${def.list.id}/rows?limit=1`);
    return (await rows.json()).total as number;
  };
  return { client, post, count };
}

backendTest(
  "POST /api/lists/{id}/import refuses a file above the import limits with 413, nothing imported",
  async (t) => {
    const { post, count } = await importer(t);
    const rows = (n: number) => `Name,Count\n${"a,1\n".repeat(n)}`;
    const many = await post(rows(11));
    assert.equal(many.status, 413);
    assert.match(
      (await many.json()).error.message,
      /more than the 10 rows one import may have \(LABGATE_IMPORT_MAX_ROWS\)/,
    );
    const big = await post(rows(600));
    assert.equal(big.status, 413);
    assert.match(
      (await big.json()).error.message,
      /more than the 2048 bytes .*LABGATE_IMPORT_MAX_BYTES/,
    );
    assert.equal(await count(), 0);
    assert.equal((await post(rows(10))).status, 200);
    assert.equal(await count(), 10);
  },
  { env: { LABGATE_IMPORT_MAX_ROWS: "10", LABGATE_IMPORT_MAX_BYTES: "2048" } },
);

backendTest(
  "POST /api/lists/{id}/import refuses a million-column header at once, with 400",
  async (t) => {
    const { post, count } = await importer(t);
    const header = Array.from({ length: 1_000_000 }, (_, i) => `c${i}`).join(",");
    const started = performance.now();
    const response = await post(`${header}\n1\n`);
    const ms = performance.now() - started;
    assert.equal(response.status, 400);
    assert.match((await response.json()).error.message, /LABGATE_IMPORT_HEADER_BYTES/);
    assert.ok(ms < 2000, `refused in ${Math.round(ms)} ms`);
    assert.equal(await count(), 0);
  },
);

backendTest("labgate answers within 1 s while a large import runs", async (t) => {
  const { client, post, count } = await importer(t);
  // What the import must not hold up is the event loop. On PostgreSQL /healthz shows it; the
  // embedded database is one session, which the import's one transaction holds while it inserts
  // (docs/operations.md), so there a page that needs no database does.
  const probe = t.svc.database.kind === "postgres" ? "/healthz" : "/static/style.css";
  const rows = 150_000;
  const file = `Name,Count\n${
    Array.from({ length: rows }, (_, i) => `"sample, number ${i}",${i}`).join("\n")
  }\n`;
  let done = false;
  const importing = post(file).finally(() => (done = true));
  let slowest = 0;
  let checks = 0;
  while (!done) {
    const started = performance.now();
    const health = await client.get(probe);
    assert.equal(health.status, 200);
    await health.arrayBuffer();
    slowest = Math.max(slowest, performance.now() - started);
    checks++;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const response = await importing;
  assert.equal(response.status, 200, await response.clone().text());
  assert.deepEqual(await response.json(), { inserted: rows });
  assert.equal(await count(), rows);
  assert.ok(checks > 3, `checked ${checks} times during the import`);
  assert.ok(slowest < 1000, `the slowest ${probe} took ${Math.round(slowest)} ms`);
});
