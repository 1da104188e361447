/**
 * psql and psycopg2 connections kept open while access is taken away: the
 * next statement ends the connection with the cause, or sees the narrower
 * catalog. The causes one by one are in tests/wire/revocation_test.ts.
 */
import assert from "node:assert/strict";
import { setPolicy } from "../../src/data/containers.ts";
import { getUserByEmail, updateUser } from "../../src/data/users.ts";
import { createGroup, setMembership } from "../../src/data/groups.ts";
import { createApiKey, createSessionKey, revokeKey } from "../../src/doors/keys/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { createSession, endSession } from "../../src/data/sessions.ts";
import { actorOf, backendTest } from "../_support/backends.ts";
import { updateExternalApp, updateToken } from "../../src/doors/tokens/mod.ts";
import { APP_ID, FOLDER as TOKEN_FOLDER, tokenWorld } from "../_support/tokens.ts";
import { ALICE, BOB, FOLDER, openDoor, SECRET_FOLDER, startDoor } from "../wire/_door.ts";
import { installed, LineClient, PYTHON, skipped } from "./_clients.ts";

const COUNT = "select count(*) from lists.samples";

/** psql reading statements from stdin, one connection for all of them. */
function psql(port: number, user: string, password: string, sslmode: string): LineClient {
  return new LineClient("psql", [
    "-X",
    "-A",
    "-t",
    "-q",
    `host=127.0.0.1 port=${port} dbname=${FOLDER} user=${user} sslmode=${sslmode}`,
  ], { PGPASSWORD: password, PGCONNECT_TIMEOUT: "10" });
}

/** Runs a statement on psql and says DONE after it. */
function psqlLine(sql: string): string {
  return `${sql};\n\\echo ${LineClient.DONE}`;
}

/** psycopg2 on one connection: each stdin line runs; rows or the error as JSON, then DONE. */
const PSYCOPG2 = `
import json, sys
import psycopg2

port, user, password, db, autocommit = sys.argv[1:6]
conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password, dbname=db,
                        sslmode="disable", connect_timeout=10)
conn.autocommit = autocommit == "on"
for line in sys.stdin:
    try:
        cur = conn.cursor()
        cur.execute(line)
        print(json.dumps({"rows": [[str(v) for v in row] for row in cur.fetchall()]}))
    except psycopg2.Error as e:
        print(json.dumps({"code": e.pgcode, "error": str(e), "closed": conn.closed != 0}))
        if conn.closed:
            break
    print("${LineClient.DONE}", flush=True)
`;

async function psycopg2(port: number, login: typeof ALICE, autocommit: boolean) {
  const script = await Deno.makeTempFile({ suffix: ".py" });
  await Deno.writeTextFile(script, PSYCOPG2);
  const client = new LineClient(PYTHON, [
    script,
    String(port),
    login.email,
    login.password,
    FOLDER,
    autocommit ? "on" : "off",
  ]);
  return {
    ask: async (sql: string) => JSON.parse((await client.ask(sql)).stdout || "{}"),
    async [Symbol.asyncDispose]() {
      await client[Symbol.asyncDispose]();
      await Deno.remove(script);
    },
  };
}

backendTest(
  "psql: a revoked API key and a removed role end open connections at their next statement",
  async (t) => {
    if (!await installed("psql")) return skipped("psql");
    await using fx = await openDoor(t, { tls: true });
    if (!fx.tls) return skipped("openssl");
    await t.svc.settings.set(keySettings, {
      apiKeys: true,
      apiKeyExpiries: ["1w"],
      sessionKeys: false,
    });
    const alice = await actorOf(t.svc, ALICE.email);
    const { session } = await createSession(t.svc, { userId: alice.userId });
    const browser = { ...alice, session: { id: session.id, csrfToken: session.csrf_token } };
    const { key, view } = await createApiKey(t.svc, browser, { expiry: "1w" });
    await using byKey = psql(fx.port, "apikey", key, "require");
    await using byPassword = psql(fx.port, ALICE.email, ALICE.password, "disable");
    assert.equal((await byKey.ask(psqlLine(COUNT))).stdout, "3");
    assert.equal((await byPassword.ask(psqlLine(COUNT))).stdout, "3");

    await revokeKey(t.svc, browser, view.id);
    const revoked = await byKey.ask(psqlLine(COUNT));
    assert.ok(revoked.exited, "psql lost its connection");
    assert.equal(revoked.stdout, "", "no rows");
    assert.match(revoked.stderr, /FATAL: {2}terminating connection: API key revoked/);

    assert.equal((await byPassword.ask(psqlLine(COUNT))).stdout, "3");
    await setPolicy(t.svc, t.admin, FOLDER, { inherit: false, assignments: [] });
    const lost = await byPassword.ask(psqlLine(COUNT));
    assert.ok(lost.exited);
    assert.match(
      lost.stderr,
      new RegExp(`FATAL: {2}terminating connection: Permission to read ${FOLDER} was removed`),
    );
  },
);

backendTest(
  "psycopg2: deactivation ends the connection; a folder taken away narrows the catalog",
  async (t) => {
    if (!await installed(PYTHON, ["-c", "import psycopg2"])) return skipped("python3-psycopg2");
    await using fx = await openDoor(t);
    const alice = (await getUserByEmail(t.svc, ALICE.email))!;
    const bob = (await getUserByEmail(t.svc, BOB.email))!;
    await setPolicy(t.svc, t.admin, FOLDER, {
      inherit: false,
      assignments: [{ principalId: alice.id, role: "reader" }, {
        principalId: bob.id,
        role: "reader",
      }],
    });
    const reader = [{ principalId: alice.id, role: "reader" as const }];
    await setPolicy(t.svc, t.admin, SECRET_FOLDER, { inherit: false, assignments: reader });
    // Outside PGlite, psycopg2's default: every statement in a transaction that stays open.
    await using aliceClient = await psycopg2(fx.port, ALICE, t.backend === "pglite");
    await using bobClient = await psycopg2(fx.port, BOB, true);
    const folders = "select path from core.containers order by path";
    assert.deepEqual((await aliceClient.ask(folders)).rows, [[FOLDER], [SECRET_FOLDER]]);
    assert.deepEqual((await bobClient.ask(COUNT)).rows, [["3"]]);

    await setPolicy(t.svc, t.admin, SECRET_FOLDER, { inherit: false, assignments: [] });
    assert.deepEqual((await aliceClient.ask(folders)).rows, [[FOLDER]]);
    assert.deepEqual((await aliceClient.ask(COUNT)).rows, [["3"]]);

    await updateUser(t.svc, t.admin, bob.id, { active: false });
    const ended = await bobClient.ask(COUNT);
    assert.equal(ended.rows, undefined);
    // libpq keeps the FATAL's text from psycopg2, as after PostgreSQL's own pg_terminate_backend.
    assert.match(ended.error, /server closed the connection/);
    assert.ok(ended.closed);
    await t.svc.audit.flush();
    const entry = await t.svc.db.selectFrom("audit_log").select(["user_email", "message"])
      .where("event", "=", "sql.revoked").executeTakeFirstOrThrow();
    assert.deepEqual(entry, { user_email: BOB.email, message: "This account was deactivated" });
  },
);

backendTest(
  "psql: a group membership removed, a password changed and a signed-out session end open connections",
  async (t) => {
    if (!await installed("psql")) return skipped("psql");
    await using fx = await openDoor(t, { tls: true });
    if (!fx.tls) return skipped("openssl");
    await t.svc.settings.set(keySettings, {
      apiKeys: false,
      apiKeyExpiries: ["1w"],
      sessionKeys: true,
    });
    const alice = (await getUserByEmail(t.svc, ALICE.email))!;
    const bob = (await getUserByEmail(t.svc, BOB.email))!;
    const lab = await createGroup(t.svc, t.admin, { name: "lab" });
    await setMembership(t.svc, t.admin, { groupId: lab.id, userId: bob.id, member: true });
    await setPolicy(t.svc, t.admin, FOLDER, {
      inherit: false,
      assignments: [{ principalId: alice.id, role: "reader" }, {
        principalId: lab.id,
        role: "reader",
      }],
    });
    const aliceActor = await actorOf(t.svc, ALICE.email);
    const { session } = await createSession(t.svc, { userId: alice.id });
    const { key } = await createSessionKey(t.svc, {
      ...aliceActor,
      session: { id: session.id, csrfToken: session.csrf_token },
    });
    await using byGroup = psql(fx.port, BOB.email, BOB.password, "disable");
    await using byPassword = psql(fx.port, ALICE.email, ALICE.password, "disable");
    await using bySessionKey = psql(fx.port, "apikey", key, "require");
    for (const client of [byGroup, byPassword, bySessionKey]) {
      assert.equal((await client.ask(psqlLine(COUNT))).stdout, "3");
    }

    await setMembership(t.svc, t.admin, { groupId: lab.id, userId: bob.id, member: false });
    const outOfGroup = await byGroup.ask(psqlLine(COUNT));
    assert.ok(outOfGroup.exited);
    assert.equal(outOfGroup.stdout, "");
    assert.match(outOfGroup.stderr, /FATAL: {2}terminating connection: Permission to read/);

    await endSession(t.svc, session.id, "logout");
    const signedOut = await bySessionKey.ask(psqlLine(COUNT));
    assert.ok(signedOut.exited);
    assert.match(signedOut.stderr, /FATAL: {2}terminating connection: Session key/);

    await updateUser(t.svc, t.admin, alice.id, { password: "alice-new-pass-42" });
    const changed = await byPassword.ask(psqlLine(COUNT));
    assert.ok(changed.exited);
    assert.match(
      changed.stderr,
      /FATAL: {2}terminating connection: The password of this account was changed/,
    );
  },
);

backendTest(
  "psql: a disabled auth token and a disabled external app end open token connections",
  async (t) => {
    if (!await installed("psql")) return skipped("psql");
    const world = await tokenWorld(t);
    await updateExternalApp(t.svc, t.admin, APP_ID, { entryPoints: ["rest", "action", "sql"] });
    await using fx = await startDoor(t, { tls: true });
    if (!fx.tls) return skipped("openssl");
    const first = await world.token({ status: "active" });
    const second = await world.token({ status: "active" });
    const count = "select count(*) from lists.samples";
    const connect = (value: string) =>
      new LineClient("psql", [
        "-X",
        "-A",
        "-t",
        "-q",
        `host=127.0.0.1 port=${fx.port} dbname=${TOKEN_FOLDER} user=token sslmode=require`,
      ], { PGPASSWORD: value, PGCONNECT_TIMEOUT: "10" });
    await using byFirst = connect(first.value);
    await using bySecond = connect(second.value);
    assert.equal((await byFirst.ask(psqlLine(count))).stdout, "1");
    assert.equal((await bySecond.ask(psqlLine(count))).stdout, "1");

    await updateToken(t.svc, t.admin, first.id, { status: "disabled" });
    const disabled = await byFirst.ask(psqlLine(count));
    assert.ok(disabled.exited);
    assert.equal(disabled.stdout, "");
    assert.match(disabled.stderr, /FATAL: {2}terminating connection: .*disabled/i);

    assert.equal((await bySecond.ask(psqlLine(count))).stdout, "1", "the other token works on");
    await updateExternalApp(t.svc, t.admin, APP_ID, { status: "disabled" });
    const appOff = await bySecond.ask(psqlLine(count));
    assert.ok(appOff.exited);
    assert.match(appOff.stderr, /FATAL: {2}terminating connection: .*(disabled|app)/i);
    await t.svc.audit.flush();
    const causes = await t.svc.db.selectFrom("audit_log").select("message")
      .where("event", "=", "sql.revoked").orderBy("id").execute();
    assert.equal(causes.length, 2);
  },
);
