import assert from "node:assert/strict";
import { createApp } from "../../../routes/mod.ts";
import { eventually, refuseAuditWrites } from "../../_support/audit.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, backendTest } from "../../_support/backends.ts";
import { TestBrowser } from "../../_support/http.ts";

backendTest("withActor() answers 503 while the audit log cannot be written", async (t) => {
  const client = new TestBrowser(createApp(t.svc));
  const login = () =>
    client.json("POST", "/api/login", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  assert.equal((await login()).status, 200);
  const allow = await refuseAuditWrites(t);
  t.svc.audit.record({ door: "api", event: "test.refused", outcome: "ok" });
  await t.svc.audit.flush();
  assert.equal(t.svc.audit.failing, true);
  const refused = await client.json("GET", "/api/folders");
  assert.equal(refused.status, 503);
  assert.match(JSON.stringify(await refused.json()), /audit log/i);
  assert.equal((await login()).status, 503);
  await allow();
  await eventually(() => !t.svc.audit.failing);
  assert.equal((await client.json("GET", "/api/folders")).status, 200);
  const kept = await t.svc.db.selectFrom("audit_log").select("event")
    .where("event", "=", "test.refused").execute();
  assert.equal(kept.length, 1);
});
