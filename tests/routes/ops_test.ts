import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { ensureCertificate } from "../../src/doors/sql/tls/mod.ts";
import { ADMIN_EMAIL, backendTest } from "../_support/backends.ts";
import { TestBrowser } from "../_support/http.ts";
import { query } from "../../wire/protocol/messages.ts";
import { errorOf } from "../wire/_client.ts";
import { ALICE, connectRawClient, CROSS_JOIN, openDoor } from "../wire/_door.ts";

/** The value of one series in an exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

backendTest("GET /metrics counts requests, sign-in failures and SQL-door statements", async (t) => {
  const browser = new TestBrowser(createApp(t.svc));
  await browser.get("/login");
  await browser.get("/login");
  await browser.signIn(ADMIN_EMAIL, "wrong-password");
  await using fx = await openDoor(t);
  await using client = await connectRawClient(fx.port);
  client.send(query("select id from samples where id = 1"));
  await client.until();
  client.send(query("delete from samples"));
  await client.until();

  const response = await browser.get("/metrics");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  assert.equal(
    sample(
      text,
      'labgate_http_requests_total{door="web",method="GET",route="/login",status="200"}',
    ),
    3,
  );
  assert.equal(sample(text, 'labgate_auth_failures_total{door="web"}'), 1);
  assert.equal(sample(text, 'labgate_sql_statements_total{outcome="ok"}'), 1);
  assert.equal(sample(text, 'labgate_sql_statements_total{outcome="refused"}'), 1);
  assert.equal(sample(text, "labgate_sql_statement_duration_seconds_count"), 2);
  assert.ok(sample(text, 'labgate_sql_statement_latency_seconds{quantile="0.99"}')! > 0);
  assert.equal(sample(text, "labgate_sql_connections"), 1);
  assert.ok(sample(text, 'labgate_sql_backends{state="open"}')! >= 1);
  assert.match(text, /^# TYPE labgate_http_request_duration_seconds histogram$/m);
  assert.match(
    text,
    /labgate_http_request_duration_seconds_bucket\{door="web",method="GET",route="\/login",le="\+Inf"\} 3/,
  );
  await t.svc.audit.flush();
  assert.ok(
    sample(
      await (await browser.get("/metrics")).text(),
      'labgate_audit_writes_total{outcome="ok"}',
    )! >= 1,
  );
  await browser.get("/login");
  const after = await (await browser.get("/metrics")).text();
  assert.equal(
    sample(
      after,
      'labgate_http_requests_total{door="web",method="GET",route="/login",status="200"}',
    ),
    4,
    "counters move",
  );
});

backendTest("GET /metrics is served to loopback only by default", async (t) => {
  const remote = await new TestBrowser(createApp(t.svc), "192.0.2.9").get("/metrics");
  assert.equal(remote.status, 403);
  assert.match(await remote.text(), /loopback clients only/);
});

backendTest("GET /metrics with LABGATE_METRICS=token needs the bearer token", async (t) => {
  const browser = new TestBrowser(createApp(t.svc), "192.0.2.9");
  const none = await browser.get("/metrics");
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  const wrong = await browser.request("/metrics", { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);
  const right = await browser.request("/metrics", {
    headers: { authorization: "Bearer metrics-token-0123456789" },
  });
  assert.equal(right.status, 200);
}, { env: { LABGATE_METRICS: "token", LABGATE_METRICS_TOKEN: "metrics-token-0123456789" } });

backendTest("GET /metrics with LABGATE_METRICS=off is not there", async (t) => {
  assert.equal((await new TestBrowser(createApp(t.svc)).get("/metrics")).status, 404);
}, { env: { LABGATE_METRICS: "off" } });

backendTest(
  "GET /readyz checks database, migrations, certificate and what main.ts adds",
  async (t) => {
    await ensureCertificate(t.svc);
    let listening = true;
    const app = createApp(t.svc, {
      readiness: { sqlDoor: () => (listening ? null : "the SQL door is not listening") },
    });
    const ready = await app.request("/readyz");
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      status: "ready",
      checks: {
        database: { ok: true },
        migrations: { ok: true },
        certificate: { ok: true },
        sqlDoor: { ok: true },
      },
    });
    listening = false;
    const notReady = await app.request("/readyz");
    assert.equal(notReady.status, 503);
    const body = await notReady.json();
    assert.equal(body.status, "not ready");
    assert.deepEqual(body.checks.sqlDoor, { ok: false, detail: "the SQL door is not listening" });
    t.advance(400 * 86_400_000);
    const expired = await (await app.request("/readyz")).json();
    assert.match(expired.checks.certificate.detail, /^expired at /);
    const health = await app.request("/healthz");
    assert.deepEqual(await health.json(), { status: "ok", database: t.svc.database.kind });
  },
);

backendTest(
  "GET /metrics tells timed-out SQL-door statements apart, and the audit log says why",
  async (t) => {
    await using fx = await openDoor(t);
    await using client = await connectRawClient(fx.port);
    client.send(query("set statement_timeout = 50"));
    await client.until();
    client.send(query("select count(*) from generate_series(1, 500000000)"));
    await client.until();
    const text = await (await new TestBrowser(createApp(t.svc)).get("/metrics")).text();
    assert.equal(sample(text, 'labgate_sql_statements_total{outcome="timed_out"}'), 1);
    await t.svc.audit.flush();
    const entry = await t.svc.db.selectFrom("audit_log").select(["outcome", "message"])
      .where("event", "=", "sql.query").where("detail", "like", "%generate_series%")
      .executeTakeFirstOrThrow();
    assert.deepEqual(entry, {
      outcome: "error",
      message: "57014 canceling statement due to statement timeout " +
        "(limit 0.05 s, lowered by the client's SET statement_timeout)",
    });
  },
  { only: ["postgres"] },
);

backendTest(
  "GET /metrics counts the embedded database's restarts and stopped statements by cause",
  async (t) => {
    await using fx = await openDoor(t);
    const browser = new TestBrowser(createApp(t.svc));
    const before = await (await browser.get("/metrics")).text();
    assert.equal(sample(before, "labgate_embedded_restarts_total"), 0);
    for (const cause of ["timeout", "cancel", "web", "idle"]) {
      assert.equal(sample(before, `labgate_embedded_preemptions_total{cause="${cause}"}`), 0);
    }
    assert.match(before, /^# TYPE labgate_embedded_preemptions_total counter$/m);

    // A heavy statement, stopped when a sign-in has waited behind it.
    await using client = await connectRawClient(fx.port);
    client.send(query(CROSS_JOIN));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const signIn = await browser.signIn(ALICE.email, ALICE.password);
    await signIn.body?.cancel();
    assert.equal(errorOf((await client.until()).find((m) => m.type === "E")!).code, "57014");

    const after = await (await browser.get("/metrics")).text();
    assert.equal(sample(after, "labgate_embedded_restarts_total"), 1);
    assert.equal(sample(after, 'labgate_embedded_preemptions_total{cause="web"}'), 1);
    assert.equal(sample(after, 'labgate_embedded_preemptions_total{cause="timeout"}'), 0);
  },
  { only: ["pglite"], onDisk: true },
);
