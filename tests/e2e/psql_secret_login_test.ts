import assert from "node:assert/strict";
import { createUser } from "../../src/data/users.ts";
import { getContainerByPath, getPolicy, setPolicy } from "../../src/data/containers.ts";
import { createApiKey } from "../../src/doors/keys/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { createExternalApp, createToken } from "../../src/doors/tokens/mod.ts";
import { actorOf, backendTest, type TestContext } from "../_support/backends.ts";
import { ALICE, FOLDER, openDoor } from "../wire/_door.ts";
import { installed, run, skipped } from "./_clients.ts";

function psql(info: string, password: string, sql: string) {
  return run("psql", ["-X", "-A", "-t", info, "-c", sql], {
    env: { PGPASSWORD: password, PGCONNECT_TIMEOUT: "10" },
  });
}

const conninfo = (port: number, user: string, sslmode: string) =>
  `host=127.0.0.1 port=${port} dbname=${FOLDER} user=${user} sslmode=${sslmode}`;

async function aliceKey(t: TestContext): Promise<string> {
  await t.svc.settings.set(keySettings, {
    ...await t.svc.settings.get(keySettings),
    apiKeys: true,
  });
  const alice = await actorOf(t.svc, ALICE.email);
  const { key } = await createApiKey(t.svc, { ...alice, session: { id: "s", csrfToken: "c" } }, {
    expiry: "1w",
  });
  return key;
}

backendTest("psql signs in as user apikey over TLS and is refused without TLS", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t, { tls: true });
  if (!fx.tls) return skipped("openssl");
  const key = await aliceKey(t);
  const ok = await psql(
    conninfo(fx.port, "apikey", "require"),
    key,
    "select count(*) from lists.samples",
  );
  assert.equal(ok.stderr, "");
  assert.equal(ok.stdout.trim(), "3");
  const clear = await psql(conninfo(fx.port, "apikey", "disable"), key, "select 1");
  assert.notEqual(clear.code, 0);
  assert.match(clear.stderr, /TLS/);
  const wrong = await psql(conninfo(fx.port, "apikey", "require"), key + "x", "select 1");
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /authentication failed/i);
  await t.svc.audit.flush();
  const uses = await t.svc.db.selectFrom("audit_log").select(["credential_kind", "user_email"])
    .where("door", "=", "sql").where("event", "=", "sql.query").execute();
  assert.ok(uses.some((u) => u.credential_kind === "api_key" && u.user_email === ALICE.email));
});

backendTest("psql signs in as user token when the token's app allows the SQL door", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t, { tls: true });
  if (!fx.tls) return skipped("openssl");
  const app = await createExternalApp(t.svc, t.admin, { id: "etl", entryPoints: ["rest"] });
  const robot = await createUser(t.svc, t.admin, {
    email: "etl@apps.example.org",
    userType: "app",
    externalAppId: app.id,
  });
  const folder = (await getContainerByPath(t.svc, FOLDER))!;
  await setPolicy(t.svc, t.admin, FOLDER, {
    inherit: false,
    assignments: [...(await getPolicy(t.svc, folder)).assignments, {
      principalId: robot.id,
      role: "reader",
    }],
  });
  const { value } = await createToken(t.svc, t.admin, {
    appId: app.id,
    appUserId: robot.id,
    status: "active",
  });
  const refused = await psql(conninfo(fx.port, "token", "require"), value, "select 1");
  assert.notEqual(refused.code, 0, "no SQL entry point yet");
  const { updateExternalApp } = await import("../../src/doors/tokens/apps.ts");
  await updateExternalApp(t.svc, t.admin, app.id, { entryPoints: ["rest", "sql"] });
  const ok = await psql(
    conninfo(fx.port, "token", "require"),
    value,
    "select count(*) from lists.samples",
  );
  assert.equal(ok.stderr, "");
  assert.equal(ok.stdout.trim(), "3");
});
