/**
 * Changes that take access away reach SQL-door connections that are already
 * open: the next statement of a connection whose credential ended gets a
 * FATAL instead of rows, and one whose readable folders narrowed sees the
 * narrower catalog.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type { Actor } from "../../src/core/actor.ts";
import { createSession, endSession } from "../../src/data/sessions.ts";
import { setPolicy } from "../../src/data/containers.ts";
import { createGroup, setMembership } from "../../src/data/groups.ts";
import { changeOwnPassword, getUserByEmail, updateUser } from "../../src/data/users.ts";
import { createApiKey, createSessionKey, revokeKey } from "../../src/doors/keys/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { updateExternalApp } from "../../src/doors/tokens/apps.ts";
import { updateToken } from "../../src/doors/tokens/tokens.ts";
import { actorOf, backendTest, type TestContext } from "../_support/backends.ts";
import {
  APP_ID,
  APP_PASSWORD,
  APP_USER,
  FOLDER as APP_FOLDER,
  tokenWorld,
} from "../_support/tokens.ts";
import { query } from "../../wire/protocol/messages.ts";
import { errorOf, type Message, RawClient, rowsOf } from "./_client.ts";
import { ALICE, BOB, connectRawClient, FOLDER, openDoor, SECRET_FOLDER } from "./_door.ts";

const SAMPLES_COUNT = "select count(*) from lists.samples";
const cleartext = { settings: { allowLoopbackCleartext: true } };

/** Alice as signed in with a browser session, which making keys needs. */
async function aliceInBrowser(t: TestContext): Promise<Actor> {
  await t.svc.settings.set(keySettings, {
    apiKeys: true,
    apiKeyExpiries: ["1w"],
    sessionKeys: true,
  });
  const alice = await actorOf(t.svc, ALICE.email);
  const { session } = await createSession(t.svc, { userId: alice.userId });
  return { ...alice, session: { id: session.id, csrfToken: session.csrf_token } };
}

async function count(client: RawClient, text = SAMPLES_COUNT): Promise<string[][]> {
  client.send(query(text));
  return rowsOf(await client.until()) as string[][];
}

/**
 * Sends the next statement (the door may have closed the connection
 * already) and returns the FATAL it ends with; no row may come first.
 */
async function refused(client: RawClient, text = SAMPLES_COUNT) {
  await client.write(query(text)).catch(() => {});
  const seen: Message[] = await client.closedByServer();
  assert.deepEqual(seen.filter((m) => m.type === "D"), [], "no rows after the change");
  const fatal = seen.find((m) => m.type === "E");
  assert.ok(fatal, `a FATAL error, got ${seen.map((m) => m.type).join("")}`);
  const error = errorOf(fatal);
  assert.equal(error.severity, "FATAL");
  return error;
}

/** The audit entries of `event` for the SQL door, oldest first. */
async function audited(t: TestContext, event: string) {
  await t.svc.audit.flush();
  return await t.svc.db.selectFrom("audit_log").select(["credential_kind", "message", "detail"])
    .where("event", "=", event).orderBy("id").execute();
}

backendTest(
  "revokeKey() ends the key's open SQL-door connections before their next statement",
  async (t) => {
    await using fx = await openDoor(t, cleartext);
    const alice = await aliceInBrowser(t);
    const { key, view } = await createApiKey(t.svc, alice, { expiry: "1w" });
    const other = await createApiKey(t.svc, alice, { expiry: "1w" });
    await using client = await RawClient.connect(fx.port, {
      user: "apikey",
      password: key,
      database: FOLDER,
    });
    await using bystander = await RawClient.connect(fx.port, {
      user: "apikey",
      password: other.key,
      database: FOLDER,
    });
    assert.deepEqual(await count(client), [["3"]]);
    const started = performance.now();
    await revokeKey(t.svc, alice, view.id);
    const error = await refused(client);
    console.log(
      `revoked key: connection closed ${
        (performance.now() - started).toFixed(1)
      } ms after the commit`,
    );
    assert.equal(error.code, "28000");
    assert.match(error.message, /API key revoked/);
    assert.deepEqual(await count(bystander), [["3"]], "another key's connection goes on");
    const entries = await audited(t, "sql.revoked");
    assert.equal(entries.length, 1);
    assert.equal(entries[0].credential_kind, "api_key");
    assert.match(entries[0].message!, /API key revoked/);
  },
);

backendTest("endSession() ends the SQL-door connections of its session keys", async (t) => {
  await using fx = await openDoor(t, cleartext);
  const alice = await aliceInBrowser(t);
  const { key } = await createSessionKey(t.svc, alice);
  await using client = await RawClient.connect(fx.port, {
    user: "apikey",
    password: key,
    database: FOLDER,
  });
  assert.deepEqual(await count(client), [["3"]]);
  await endSession(t.svc, alice.session!.id, "logout");
  const error = await refused(client);
  assert.equal(error.code, "28000");
  assert.match(error.message, /browser session has ended/);
});

backendTest(
  "updateUser() reaches the next apikey login at once, though the key was just verified",
  async (t) => {
    await using fx = await openDoor(t, cleartext);
    const alice = await aliceInBrowser(t);
    const { key } = await createApiKey(t.svc, alice, { expiry: "1w" });
    const login = { user: "apikey", password: key, database: FOLDER };
    // The login takes the user's record from the key's verification, which is cached.
    const first = await RawClient.connect(fx.port, login);
    assert.equal(first.parameters.get("session_authorization"), ALICE.email);
    first.close();
    await updateUser(t.svc, t.admin, alice.userId, { email: "alice.renamed@example.org" });
    const renamed = await RawClient.connect(fx.port, login);
    assert.equal(renamed.parameters.get("session_authorization"), "alice.renamed@example.org");
    renamed.close();
    await updateUser(t.svc, t.admin, alice.userId, { active: false });
    await assert.rejects(RawClient.connect(fx.port, login), /28P01|deactivated/);
  },
);

backendTest(
  "updateUser() deactivation and password changes end password connections",
  async (t) => {
    await using fx = await openDoor(t);
    const bob = (await getUserByEmail(t.svc, BOB.email))!;
    const aliceUser = (await getUserByEmail(t.svc, ALICE.email))!;
    await setPolicy(t.svc, t.admin, FOLDER, {
      inherit: false,
      assignments: [
        { principalId: aliceUser.id, role: "reader" },
        { principalId: bob.id, role: "reader" },
      ],
    });
    const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };
    await using alice = await RawClient.connect(fx.port, login);
    await using bobClient = await RawClient.connect(fx.port, {
      user: BOB.email,
      password: BOB.password,
      database: FOLDER,
    });
    assert.deepEqual(await count(alice), [["3"]]);
    assert.deepEqual(await count(bobClient), [["3"]]);

    await updateUser(t.svc, t.admin, bob.id, { active: false });
    const deactivated = await refused(bobClient);
    assert.equal(deactivated.code, "28000");
    assert.match(deactivated.message, /deactivated/);
    assert.deepEqual(await count(alice), [["3"]], "Alice's connection is not Bob's");

    await updateUser(t.svc, t.admin, aliceUser.id, { password: "alice-new-password-2" });
    const changed = await refused(alice);
    assert.equal(changed.code, "28000");
    assert.match(changed.message, /password .*changed/);

    await using again = await RawClient.connect(fx.port, {
      ...login,
      password: "alice-new-password-2",
    });
    await changeOwnPassword(t.svc, await actorOf(t.svc, ALICE.email), {
      newPassword: "alice-newer-password-3",
    });
    assert.match((await refused(again)).message, /password .*changed/);
  },
);

backendTest(
  "a role or group membership removed ends connections to the folder, naming it",
  async (t) => {
    await using fx = await openDoor(t);
    const alice = (await getUserByEmail(t.svc, ALICE.email))!;
    const bob = (await getUserByEmail(t.svc, BOB.email))!;
    const readers = await createGroup(t.svc, t.admin, { name: "readers" });
    await setMembership(t.svc, t.admin, { groupId: readers.id, userId: bob.id, member: true });
    await setPolicy(t.svc, t.admin, FOLDER, {
      inherit: false,
      assignments: [
        { principalId: alice.id, role: "reader" },
        { principalId: readers.id, role: "reader" },
      ],
    });
    await using aliceClient = await connectRawClient(fx.port);
    await using bobClient = await RawClient.connect(fx.port, {
      user: BOB.email,
      password: BOB.password,
      database: FOLDER,
    });
    assert.deepEqual(await count(bobClient), [["3"]]);

    await setMembership(t.svc, t.admin, { groupId: readers.id, userId: bob.id, member: false });
    const lost = await refused(bobClient);
    assert.equal(lost.code, "28000");
    assert.match(lost.message, new RegExp(`read ${FOLDER}`));
    assert.deepEqual(await count(aliceClient), [["3"]]);

    await setPolicy(t.svc, t.admin, FOLDER, {
      inherit: false,
      assignments: [{ principalId: readers.id, role: "reader" }],
    });
    assert.match((await refused(aliceClient)).message, new RegExp(`read ${FOLDER}`));
    const entries = await audited(t, "sql.revoked");
    assert.equal(entries.length, 2);
  },
);

/** Alice, connected to FOLDER, may read SECRET_FOLDER too until `narrow()` takes it away. */
async function aliceReadsTwoFolders(t: TestContext) {
  const alice = (await getUserByEmail(t.svc, ALICE.email))!;
  const readable = [{ principalId: alice.id, role: "reader" as const }];
  await setPolicy(t.svc, t.admin, SECRET_FOLDER, { inherit: false, assignments: readable });
  return {
    login: { user: ALICE.email, password: ALICE.password, database: FOLDER },
    narrow: () => setPolicy(t.svc, t.admin, SECRET_FOLDER, { inherit: false, assignments: [] }),
  };
}

const FOLDERS = "select path from core.containers order by path";

backendTest(
  "a folder no longer readable elsewhere narrows the catalog of open connections",
  async (t) => {
    await using fx = await openDoor(t);
    const { login, narrow } = await aliceReadsTwoFolders(t);
    await using client = await RawClient.connect(fx.port, login);
    const databases = "select datname from pg_database where datname like '/home/%' order by 1";
    assert.deepEqual(await count(client, databases), [[FOLDER], [SECRET_FOLDER]]);
    await narrow();
    assert.deepEqual(await count(client, databases), [[FOLDER]]);
    assert.deepEqual(await count(client, FOLDERS), [[FOLDER]]);
    assert.deepEqual(await count(client), [["3"]], "the connection goes on");
    const entries = await audited(t, "sql.narrowed");
    assert.equal(entries.length, 1);
    assert.match(entries[0].detail!, new RegExp(`no longer readable: ${SECRET_FOLDER}`));
  },
);

backendTest(
  "a connection in an open transaction sees the narrower catalog at its next statement",
  async (t) => {
    await using fx = await openDoor(t);
    const { login, narrow } = await aliceReadsTwoFolders(t);
    await using client = await RawClient.connect(fx.port, login);
    client.send(query("begin"));
    await client.until();
    assert.deepEqual(await count(client, FOLDERS), [[FOLDER], [SECRET_FOLDER]]);
    await narrow();
    assert.deepEqual(await count(client, FOLDERS), [[FOLDER]]);
    client.send(query("commit"));
    await client.until();
    assert.deepEqual(await count(client, FOLDERS), [[FOLDER]]);
    assert.deepEqual(await count(client), [["3"]]);
  },
  { only: ["postgres"] },
); // on PGlite the open transaction holds the one session the change needs

backendTest("a token or external app disabled ends token and app-user connections", async (t) => {
  await using fx = await openDoor(t, cleartext);
  const world = await tokenWorld(t);
  const app = {
    description: "Test app",
    entryPoints: ["rest" as const, "action" as const, "sql" as const],
    defaultExpiryDays: 30,
  };
  await updateExternalApp(t.svc, t.admin, APP_ID, app);
  const token = await world.token();
  const other = await world.token();
  const tokenLogin = (value: string) => ({ user: "token", password: value, database: APP_FOLDER });
  await using disabled = await RawClient.connect(fx.port, tokenLogin(token.value));
  await using byApp = await RawClient.connect(fx.port, tokenLogin(other.value));
  await using appUser = await RawClient.connect(fx.port, {
    user: APP_USER,
    password: APP_PASSWORD,
    database: APP_FOLDER,
  });
  const rows = "select count(*) from lists.samples";
  assert.deepEqual(await count(disabled, rows), [["1"]]);

  await updateToken(t.svc, t.admin, token.id, { status: "disabled" });
  const error = await refused(disabled, rows);
  assert.equal(error.code, "28000");
  assert.match(error.message, /token is disabled/);
  assert.deepEqual(await count(byApp, rows), [["1"]]);
  assert.deepEqual(await count(appUser, rows), [["1"]]);

  await updateExternalApp(t.svc, t.admin, APP_ID, { ...app, status: "disabled" });
  assert.match((await refused(byApp, rows)).message, new RegExp(`${APP_ID} is disabled`));
  assert.match((await refused(appUser, rows)).message, /app/);
});

backendTest(
  "API keys, tokens and session keys' sessions that expire end their connections then",
  async (t) => {
    await using fx = await openDoor(t, cleartext);
    const alice = await aliceInBrowser(t);
    const { key, view } = await createApiKey(t.svc, alice, { expiry: "1w" });
    const sessionKey = await createSessionKey(t.svc, alice);
    const world = await tokenWorld(t);
    await updateExternalApp(t.svc, t.admin, APP_ID, {
      description: "Test app",
      entryPoints: ["sql"],
      defaultExpiryDays: 30,
    });
    const token = await world.token();
    // Long enough for the three logins on a busy machine.
    const ends = performance.now() + 2000;
    const soon = sql<Date>`now() + interval '2000 milliseconds'`;
    await t.svc.db.updateTable("keys").set({ expires_at: soon }).where("id", "=", view.id)
      .execute();
    await t.svc.db.updateTable("auth_tokens").set({ expires_at: soon }).where("id", "=", token.id)
      .execute();
    // The browser session behind the session key times out then, with no request.
    const idle = `${t.config.sessionIdleMinutes * 60_000 - 2000} milliseconds`;
    await t.svc.db.updateTable("sessions").set({
      last_seen_at: sql<Date>`now() - ${idle}::interval`,
    })
      .where("id", "=", alice.session!.id).execute();
    await using bySessionKey = await RawClient.connect(fx.port, {
      user: "apikey",
      password: sessionKey.key,
      database: FOLDER,
    });
    await using byKey = await RawClient.connect(fx.port, {
      user: "apikey",
      password: key,
      database: FOLDER,
    });
    await using byToken = await RawClient.connect(fx.port, {
      user: "token",
      password: token.value,
      database: APP_FOLDER,
    });
    assert.deepEqual(await count(byKey), [["3"]]);
    assert.deepEqual(await count(byToken, "select 1"), [["1"]]);
    await new Promise((resolve) => setTimeout(resolve, ends + 300 - performance.now()));
    assert.match((await refused(byKey)).message, /API key expired/);
    assert.match((await refused(byToken, "select 1")).message, /token is expired/);
    assert.match((await refused(bySessionKey)).message, /browser session has ended/);
  },
);

backendTest("a statement running when its key is revoked is cut off", async (t) => {
  await using fx = await openDoor(t, cleartext);
  const alice = await aliceInBrowser(t);
  const { key, view } = await createApiKey(t.svc, alice, { expiry: "1w" });
  await using client = await RawClient.connect(fx.port, {
    user: "apikey",
    password: key,
    database: FOLDER,
  });
  client.send(query("select pg_sleep(5), count(*) from lists.samples"));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = performance.now();
  await revokeKey(t.svc, alice, view.id);
  const seen = await client.closedByServer();
  assert.ok(performance.now() - started < 2000, "closed long before the sleep ends");
  assert.deepEqual(seen.filter((m) => m.type === "D"), []);
  assert.equal(errorOf(seen.find((m) => m.type === "E")!).code, "28000");
}, { only: ["postgres"] }); // PGlite runs a statement on the server's own thread: nothing can cut in
