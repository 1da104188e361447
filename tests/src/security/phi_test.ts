import assert from "node:assert/strict";
import type { Actor } from "../../../src/core/actor.ts";
import { createSession } from "../../../src/data/sessions.ts";
import { createList } from "../../../src/data/lists.ts";
import { createApiKey, createSessionKey, verifyKey } from "../../../src/doors/keys/mod.ts";
import { keySettings } from "../../../src/doors/keys/settings.ts";
import {
  columnVisible,
  phiLevelInForce,
  sqlTableRules,
  visibleColumns,
  withheldMessage,
} from "../../../src/security/phi.ts";
import { resolveSecretLogin } from "../../../wire/secret_login.ts";
import { updateExternalApp } from "../../../src/doors/tokens/apps.ts";
import { backendTest, type TestContext } from "../../_support/backends.ts";
import { APP_ID, tokenWorld } from "../../_support/tokens.ts";

Deno.test("columnVisible() shows a column at or below the level in force, restricted never", () => {
  const expected: Record<string, string[]> = {
    not_phi: ["not_phi"],
    limited: ["not_phi", "limited"],
    full: ["not_phi", "limited", "full"],
  };
  for (const [inForce, shown] of Object.entries(expected)) {
    for (const column of ["not_phi", "limited", "full", "restricted", "unknown"]) {
      assert.equal(
        columnVisible(column, inForce as "not_phi"),
        shown.includes(column),
        `${column} at ${inForce}`,
      );
    }
  }
});

Deno.test("phiLevelInForce() takes the credential's level, else the declaration, else not_phi", () => {
  assert.equal(phiLevelInForce(null), "not_phi");
  assert.equal(phiLevelInForce({ compliance: null }), "not_phi");
  assert.equal(phiLevelInForce({ compliance: {} }), "not_phi");
  assert.equal(phiLevelInForce({ compliance: { phiLevel: "none" } }), "not_phi");
  assert.equal(phiLevelInForce({ compliance: { phiLevel: "limited" } }), "limited");
  assert.equal(phiLevelInForce({ compliance: { phiLevel: "full" } }), "full");
  assert.equal(
    phiLevelInForce({ compliance: { phiLevel: "full" }, phiLevel: "not_phi" }),
    "not_phi",
  );
  assert.equal(phiLevelInForce({ compliance: null, phiLevel: "limited" }), "limited");
});

Deno.test("visibleColumns() splits columns and withheldMessage() names the level needed", () => {
  const columns = [
    { name: "Id", phi: "not_phi" },
    { name: "Zip", phi: "limited" },
    { name: "Name", phi: "full" },
    { name: "Link", phi: "restricted" },
  ];
  const { visible, withheld } = visibleColumns(columns, "limited");
  assert.deepEqual(visible.map((c) => c.name), ["Id", "Zip"]);
  assert.deepEqual(withheld, ["Name", "Link"]);
  assert.match(withheldMessage(columns[2]), /"Name" needs PHI level full/);
  assert.match(withheldMessage(columns[3]), /"Link" is restricted/);
});

Deno.test("sqlTableRules() gives the tables with withheld columns what SQL reads instead", () => {
  const column = (table: string, name: string, phi: string) => ({
    table,
    column: name.toLowerCase(),
    name,
    phi,
  });
  const rules = sqlTableRules([
    column("patients", "Id", "not_phi"),
    column("patients", "Zip", "limited"),
    column("patients", "Name", "full"),
    column("sites", "Id", "not_phi"),
    column("sites", "Zip", "limited"),
  ], "limited");
  assert.deepEqual(rules.map((r) => [r.table, r.visible]), [["patients", ["id", "zip"]]]);
  assert.deepEqual(rules[0].withheld.map((c) => c.message), [
    'Column "Name" needs PHI level full (Full PHI): declare it at sign-in or use a key made at ' +
    "that level (your level: limited)",
  ]);
});

backendTest("createList() stores each column's PHI level, not_phi by default", async (t) => {
  const def = await createList(t.svc, t.admin, "/home", {
    name: "patients",
    key: "Id",
    autoKey: true,
    columns: [
      { name: "Site", type: "Text" },
      { name: "Zip", type: "Text", phi: "limited" },
      { name: "Name", type: "Text", phi: "full" },
      { name: "Link", type: "Text", phi: "restricted" },
    ],
  });
  assert.deepEqual(def.columns.map((c) => [c.name, c.phi]), [
    ["Id", "not_phi"],
    ["Site", "not_phi"],
    ["Zip", "limited"],
    ["Name", "full"],
    ["Link", "restricted"],
  ]);
  await assert.rejects(
    createList(t.svc, t.admin, "/home", {
      name: "bad",
      key: "Id",
      columns: [{ name: "Id", type: "Integer", phi: "secret" }],
    }),
    /Column "Id" has unknown PHI level "secret": use one of not_phi, limited, full, restricted/,
  );
});

/** The admin signed in through a browser, having declared `phiLevel`. */
async function browserAdmin(t: TestContext, phiLevel: "none" | "limited" | "full") {
  await t.svc.settings.set(keySettings, {
    apiKeys: true,
    apiKeyExpiries: ["never"],
    sessionKeys: true,
  });
  const { session } = await createSession(t.svc, {
    userId: t.admin.userId,
    compliance: { termsAccepted: true, irbNumber: "IRB-1", phiLevel },
  });
  return {
    ...t.admin,
    compliance: session.compliance as Actor["compliance"],
    session: { id: session.id, csrfToken: session.csrf_token },
  };
}

backendTest("API keys carry the level chosen at creation, at most the session's", async (t) => {
  const browser = await browserAdmin(t, "limited");
  const context = { door: "key" as const, clientAddr: null };
  const byDefault = await createApiKey(t.svc, browser, { expiry: "never" });
  assert.equal(byDefault.view.phiLevel, "limited");
  assert.equal(phiLevelInForce(await verifyKey(t.svc, byDefault.key, context)), "limited");
  const lower = await createApiKey(t.svc, browser, { expiry: "never", phiLevel: "not_phi" });
  assert.equal(phiLevelInForce(await verifyKey(t.svc, lower.key, context)), "not_phi");
  await assert.rejects(
    createApiKey(t.svc, browser, { expiry: "never", phiLevel: "full" }),
    /cannot exceed your session's \(limited\)/,
  );
  await assert.rejects(
    createApiKey(t.svc, browser, { expiry: "never", phiLevel: "everything" }),
    /Unknown PHI level "everything"/,
  );
  const sessionKey = await createSessionKey(t.svc, browser);
  assert.equal(sessionKey.view.phiLevel, null);
  assert.equal(phiLevelInForce(await verifyKey(t.svc, sessionKey.key, context)), "limited");
});

backendTest("auth tokens carry their external app's PHI level, not_phi by default", async (t) => {
  const world = await tokenWorld(t);
  assert.equal(world.app.phi_level, "not_phi");
  const { value } = await world.token();
  const login = () => resolveSecretLogin(t.svc, { kind: "token", secret: value, clientAddr: null });
  await updateExternalApp(t.svc, t.admin, APP_ID, { entryPoints: ["rest", "sql"] });
  assert.equal((await login())?.phiLevel, "not_phi");
  await updateExternalApp(t.svc, t.admin, APP_ID, {
    entryPoints: ["rest", "sql"],
    phiLevel: "full",
  });
  assert.equal((await login())?.phiLevel, "full");
  await assert.rejects(
    updateExternalApp(t.svc, t.admin, APP_ID, { phiLevel: "restricted" }),
    /Unknown PHI level "restricted"/,
  );
});
