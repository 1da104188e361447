import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { once } from "node:events";
import tls from "node:tls";
import { createApp } from "../../../routes/mod.ts";
import { createUser } from "../../../src/data/users.ts";
import { sqlDoorSettings } from "../../../src/doors/sql/settings.ts";
import { generateCertificate } from "../../../src/doors/sql/tls/certificate.ts";
import {
  ensureCertificate,
  getTlsMaterial,
  tlsSettings,
  useConfiguredCertificate,
} from "../../../src/doors/sql/tls/mod.ts";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  backendTest,
  type TestContext,
} from "../../_support/backends.ts";
import { TestBrowser, textOf } from "../../_support/http.ts";
import { verifyServer } from "../../_support/openssl.ts";

const PAGE = "/admin/sql-door";

async function signedIn(t: TestContext, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  const browser = new TestBrowser(createApp(t.svc));
  await browser.signIn(email, password);
  return { browser, csrf: await browser.sessionCsrf() };
}

const GOOD = {
  _action: "save",
  enabled: "on",
  port: "6543",
  host_override: "db.lab.example",
  require_tls: "on",
  source: "self_signed",
  validity_days: "90",
};

/** The SQL door section after GOOD is saved. */
const SAVED = {
  ...sqlDoorSettings.defaults,
  enabled: true,
  port: 6543,
  hostOverride: "db.lab.example",
  requireTls: true,
  allowLoopbackCleartext: false,
};

async function auditEvents(t: TestContext, prefix: string) {
  await t.svc.audit.flush();
  return await t.svc.db.selectFrom("audit_log").selectAll().where("event", "like", `${prefix}%`)
    .orderBy("id").execute();
}

backendTest("POST /admin/sql-door saves the settings and audits the change", async (t) => {
  const { browser, csrf } = await signedIn(t);
  const shown = textOf(await (await browser.get(PAGE)).text());
  assert.match(shown, /External Analytics Connections/);
  assert.match(shown, /Host name shown to users: localhost/);
  const saved = await browser.postForm(PAGE, { _csrf: csrf, ...GOOD });
  assert.equal(saved.status, 303);
  assert.equal(saved.headers.get("location"), `${PAGE}?notice=Settings+saved`);
  assert.deepEqual(await t.svc.settings.get(sqlDoorSettings), SAVED);
  assert.deepEqual(await t.svc.settings.get(tlsSettings), {
    source: "self_signed",
    validityDays: 90,
  });
  const page = textOf(await (await browser.get(PAGE)).text());
  assert.match(page, /Host name shown to users: db\.lab\.example/);
  assert.match(page, /for db\.lab\.example, localhost, 127\.0\.0\.1, ::1/);
  const [entry] = await auditEvents(t, "sql_door.settings");
  assert.equal(entry.outcome, "ok");
  assert.equal(entry.user_email, ADMIN_EMAIL);
  assert.match(entry.detail ?? "", /"port":6543/);
});

backendTest(
  "POST /admin/sql-door refuses a bad port or host name and changes nothing",
  async (t) => {
    const { browser, csrf } = await signedIn(t);
    const cases: [Record<string, string>, RegExp][] = [
      [{ port: "70000" }, /Port must be a whole number from 1 to 65535, got "70000"/],
      [{ port: "" }, /Port must be a whole number from 1 to 65535/],
      [{ host_override: "https://db.lab.example" }, /Host name must not include a scheme/],
      [{ host_override: "db.lab.example:5435" }, /Host name must not include a port/],
      [{ validity_days: "0" }, /Validity period must be a whole number of days from 1 to 3650/],
      [{ source: "files" }, /No certificate files are configured: set LABGATE_TLS_CERT_FILE/],
    ];
    for (const [change, message] of cases) {
      const refused = await browser.postForm(PAGE, { _csrf: csrf, ...GOOD, ...change });
      assert.equal(refused.status, 400);
      const text = textOf(await refused.text());
      assert.match(text, message);
      assert.deepEqual(await t.svc.settings.get(sqlDoorSettings), sqlDoorSettings.defaults);
      assert.deepEqual(await t.svc.settings.get(tlsSettings), tlsSettings.defaults);
    }
    const failed = await auditEvents(t, "sql_door.settings");
    assert.equal(failed.length, cases.length);
    assert.ok(failed.every((e) => e.outcome === "failed"));
  },
);

const LIMITS = {
  max_result_rows: "5000",
  max_result_bytes: "1048576",
  max_statements_per_user: "3",
  statement_wait_seconds: "0",
};

backendTest(
  "POST /admin/sql-door saves the result and statement limits and audits them",
  async (t) => {
    const { browser, csrf } = await signedIn(t);
    const form = await (await browser.get(PAGE)).text();
    for (
      const [name, value] of [["max_result_rows", "10000000"], ["statement_wait_seconds", "30"]]
    ) {
      assert.match(
        form,
        new RegExp(`<input id="${name}"[^>]*type="number"[^>]*value="${value}"`),
      );
    }
    assert.match(textOf(form), /Rows per statement \(0 for no limit\)/);
    const saved = await browser.postForm(PAGE, { _csrf: csrf, ...GOOD, ...LIMITS });
    assert.equal(saved.status, 303);
    assert.deepEqual(await t.svc.settings.get(sqlDoorSettings), {
      ...SAVED,
      maxResultRows: 5000,
      maxResultBytes: 1048576,
      maxStatementsPerUser: 3,
      statementWaitSeconds: 0,
    });
    const shown = await (await browser.get(PAGE)).text();
    assert.match(shown, /<input id="max_statements_per_user"[^>]*value="3"/);
    const [entry] = await auditEvents(t, "sql_door.settings");
    assert.equal(entry.outcome, "ok");
    assert.match(entry.detail ?? "", /"maxResultRows":5000,"maxResultBytes":1048576/);
    assert.match(entry.detail ?? "", /"maxStatementsPerUser":3,"statementWaitSeconds":0/);

    // A form without the limit fields (a page from before them) leaves the limits as they are.
    assert.equal((await browser.postForm(PAGE, { _csrf: csrf, ...GOOD })).status, 303);
    assert.equal((await t.svc.settings.get(sqlDoorSettings)).maxStatementsPerUser, 3);
  },
);

backendTest(
  "POST /admin/sql-door refuses a bad limit beside its field, audits the refusal, changes nothing",
  async (t) => {
    const { browser, csrf } = await signedIn(t);
    const cases: [string, string, RegExp][] = [
      [
        "max_result_rows",
        "",
        /Rows per statement \(0 for no limit\) must be a whole number from 0/,
      ],
      ["max_result_bytes", "-1", /Result bytes per statement \(0 for no limit\) must be a whole/],
      ["max_statements_per_user", "0", /Statements one user may run at once must be .* 1 to 10000/],
      ["statement_wait_seconds", "1.5", /must be a whole number from 0 to 3600, got "1\.5"/],
      ["max_statements_per_user", "ten", /got "ten"/],
    ];
    for (const [name, value, message] of cases) {
      const refused = await browser.postForm(PAGE, {
        _csrf: csrf,
        ...GOOD,
        ...LIMITS,
        [name]: value,
      });
      assert.equal(refused.status, 400, name);
      const html = await refused.text();
      // Said at the top, and beside the field, which is marked invalid and keeps what was typed.
      assert.match(textOf(html), message);
      const input = new RegExp(
        `<input id="${name}"[^>]*value="${
          value.replace(".", "\\.")
        }"[^>]*aria-invalid="true" aria-describedby="${name}-error"`,
      );
      assert.match(html, input, name);
      const beside = new RegExp(`<p class="field-error" id="${name}-error">([^<]*)</p>`).exec(html);
      assert.match(textOf(beside?.[1] ?? ""), message);
      assert.equal((html.match(/aria-invalid/g) ?? []).length, 1, "only the refused field");
      assert.match(html, /<input id="max_result_bytes"[^>]*value="(1048576|-1)"/);
      assert.deepEqual(await t.svc.settings.get(sqlDoorSettings), sqlDoorSettings.defaults);
    }
    const failed = await auditEvents(t, "sql_door.settings");
    assert.equal(failed.length, cases.length);
    assert.ok(failed.every((e) => e.outcome === "failed"));
    assert.match(failed[2].message ?? "", /Statements one user may run at once/);
  },
);

backendTest("GET /admin/sql-door is 403 for a user who is not a site admin", async (t) => {
  await createUser(t.svc, t.admin, { email: "bob@example.org", password: "bob-password-1" });
  const { browser, csrf } = await signedIn(t, "bob@example.org", "bob-password-1");
  assert.equal((await browser.get(PAGE)).status, 403);
  assert.equal((await browser.get(`${PAGE}/certificate.pem`)).status, 403);
  const post = await browser.postForm(PAGE, { _csrf: csrf, ...GOOD, port: "1" });
  assert.equal(post.status, 403);
  const regenerate = await browser.postForm(PAGE, { _csrf: csrf, _action: "regenerate" });
  assert.equal(regenerate.status, 403);
  assert.deepEqual(await t.svc.settings.get(sqlDoorSettings), sqlDoorSettings.defaults);
  const user = await browser.get("/sql-door/certificate.pem");
  assert.equal(user.status, 200);
  assert.equal(user.headers.get("content-type"), "application/x-pem-file");
  const anonymous = await new TestBrowser(createApp(t.svc)).get("/sql-door/certificate.pem");
  assert.equal(anonymous.status, 303);
});

backendTest(
  "GET /admin/sql-door/certificate.pem returns only the certificate in use",
  async (t) => {
    const { browser, csrf } = await signedIn(t);
    const html = await (await browser.get(PAGE)).text();
    const current = await ensureCertificate(t.svc);
    assert.ok(current);
    for (const path of [`${PAGE}/certificate.pem`, "/sql-door/certificate.pem"]) {
      const response = await browser.get(path);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/x-pem-file");
      assert.match(response.headers.get("content-disposition") ?? "", /attachment/);
      const body = await response.text();
      assert.equal(body, current.certPem);
      assert.equal((body.match(/-----BEGIN/g) ?? []).length, 1);
      assert.equal(
        new x509.X509Certificate(body).notAfter.getTime(),
        current.notAfter.getTime(),
      );
    }
    const regenerated = await browser.postForm(PAGE, { _csrf: csrf, _action: "regenerate" });
    assert.equal(regenerated.status, 303);
    assert.match(regenerated.headers.get("location") ?? "", /New\+certificate\+made/);
    const fresh = await ensureCertificate(t.svc);
    assert.notEqual(fresh?.fingerprint, current.fingerprint);
    assert.equal(await (await browser.get(`${PAGE}/certificate.pem`)).text(), fresh?.certPem);
    const [audited] = await auditEvents(t, "tls.regenerate");
    assert.equal(audited.detail?.includes(fresh!.fingerprint), true);

    // Configured files become selectable and downloadable once main.ts passes them in.
    const files = await generateCertificate(["files.example"], {
      validityDays: 5,
      now: new Date(),
    });
    await useConfiguredCertificate(t.svc, { certPem: files.certPem, keyPem: files.keyPem });
    const saved = await browser.postForm(PAGE, { _csrf: csrf, ...GOOD, source: "files" });
    assert.equal(saved.status, 303);
    assert.equal(await (await browser.get("/sql-door/certificate.pem")).text(), files.certPem);

    // No response ever carries a private key.
    const keyBodies = [current.keyPem, fresh!.keyPem, files.keyPem].map((k) =>
      k.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "").slice(0, 40)
    );
    const responses = [
      html,
      await (await browser.get(PAGE)).text(),
      await (await browser.get(`${PAGE}/certificate.pem`)).text(),
      await (await browser.get("/sql-door/certificate.pem")).text(),
    ];
    for (const body of responses) {
      assert.doesNotMatch(body, /PRIVATE KEY/);
      for (const key of keyBodies) assert.equal(body.replace(/\s+/g, "").includes(key), false);
    }
  },
);

backendTest(
  "GET /sql-door/certificate.pem verifies a server using getTlsMaterial() for localhost",
  async (t) => {
    const { browser } = await signedIn(t);
    const downloaded = await (await browser.get("/sql-door/certificate.pem")).text();
    const material = await getTlsMaterial(t.svc);
    assert.ok(material);
    const server = tls.createServer({ key: material.key, cert: material.cert }, (s) => s.end());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const dir = await Deno.makeTempDir();
    try {
      const caFile = `${dir}/labgate-sql-door.pem`;
      await Deno.writeTextFile(caFile, downloaded);
      const { port } = server.address() as { port: number };
      const verified = await verifyServer(port, { caFile, hostname: "localhost" });
      assert.equal(verified.code, 0, verified.out);
      assert.match(verified.out, /Verify return code: 0 \(ok\)/);
    } finally {
      server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
