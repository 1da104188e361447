import assert from "node:assert/strict";
import { actorOf, backendTest, type TestContext } from "../_support/backends.ts";
import { createSession } from "../../src/data/sessions.ts";
import { updateUser } from "../../src/data/users.ts";
import { createApiKey, setKeyStatementTimeout } from "../../src/doors/keys/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { bindText, execute, parse, query, SYNC } from "../../wire/protocol/messages.ts";
import { errorOf, RawClient, rowsOf, statusOf, types } from "./_client.ts";
import { ALICE, FOLDER, openDoor } from "./_door.ts";
import { sqlDoorSettings } from "../../src/doors/sql/settings.ts";

const NO_TYPES = new Uint8Array(2);
const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

async function auditedQueries(t: TestContext) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  await t.svc.audit.flush();
  return await t.svc.db.selectFrom("audit_log").select(["outcome", "detail", "rows", "message"])
    .where("door", "=", "sql").where("event", "=", "sql.query").orderBy("id").execute();
}

backendTest(
  "a statement returning more rows than maxResultRows ends with 54000, the connection stays usable",
  async (t) => {
    await using fx = await openDoor(t, { settings: { maxResultRows: 100 } });
    await using client = await RawClient.connect(fx.port, login);
    client.send(query("select g from generate_series(1, 100000) g"));
    const reply = await client.until();
    assert.equal(rowsOf(reply).length, 100);
    const error = reply.find((m) => m.type === "E")!;
    assert.equal(errorOf(error).code, "54000");
    assert.match(errorOf(error).message, /larger than the 100 rows one statement may return/);
    assert.equal(statusOf(reply), "I");
    assert.equal(types(reply).at(-1), "Z");
    // Exactly at the limit is fine, and so is the next statement.
    client.send(query("select g from generate_series(1, 100) g"));
    const fits = await client.until();
    assert.equal(rowsOf(fits).length, 100);
    assert.ok(!fits.some((m) => m.type === "E"));
    const audited = await auditedQueries(t);
    const stopped = audited.find((r) => r.detail?.includes("100000"))!;
    assert.equal(stopped.outcome, "denied");
    assert.equal(stopped.rows, 100);
    assert.match(stopped.message ?? "", /^54000 .*100 rows .*\(setting maxResultRows\)/);
  },
);

backendTest(
  "an Execute past maxResultBytes ends with 54000 and the rest of its batch is skipped to Sync",
  async (t) => {
    await using fx = await openDoor(t, { settings: { maxResultBytes: 64 * 1024 } });
    await using client = await RawClient.connect(fx.port, login);
    client.send(
      parse("", "select repeat('x', 1000) from generate_series(1, $1::int)", NO_TYPES),
      bindText("", "", ["1000"]),
      execute(""),
      parse("", "select 1", NO_TYPES),
      bindText("", "", []),
      execute(""),
      SYNC,
    );
    const reply = await client.until();
    const error = reply.find((m) => m.type === "E")!;
    assert.equal(errorOf(error).code, "54000");
    assert.match(errorOf(error).message, /65536 bytes of rows/);
    assert.ok(rowsOf(reply).length < 66, `${rowsOf(reply).length} rows sent`);
    assert.equal(types(reply).replaceAll("D", ""), "12EZ", "nothing after the error but Sync's");
    client.send(query("select 1"));
    assert.deepEqual(rowsOf(await client.until()), [["1"]]);
  },
);

backendTest(
  "a transaction whose statement went past a limit is aborted as after any error",
  async (t) => {
    await using fx = await openDoor(t, { settings: { maxResultRows: 10 } });
    await using client = await RawClient.connect(fx.port, login);
    client.send(query("begin"));
    await client.until();
    client.send(query("select g from generate_series(1, 50000) g"));
    const reply = await client.until();
    assert.equal(errorOf(reply.find((m) => m.type === "E")!).code, "54000");
    client.send(query("rollback"));
    assert.equal(statusOf(await client.until()), "I");
    client.send(query("select count(*) from lists.samples"));
    assert.deepEqual(rowsOf(await client.until()), [["3"]]);
  },
);

backendTest(
  "one user's statements past maxStatementsPerUser wait their turn, then fail with 53300",
  async (t) => {
    await using fx = await openDoor(t, {
      settings: { maxStatementsPerUser: 2, statementWaitSeconds: 1 },
    });
    const clients = await Promise.all([1, 2, 3].map(() => RawClient.connect(fx.port, login)));
    try {
      const [first, second, third] = clients;
      first.send(query("select pg_sleep(2.5)"));
      second.send(query("select pg_sleep(2.5)"));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = performance.now();
      third.send(query("select 1"));
      const refused = await third.until();
      const error = errorOf(refused.find((m) => m.type === "E")!);
      assert.equal(error.code, "53300");
      assert.match(error.message, /running 2 statements at once.*maxStatementsPerUser.*1 s/);
      assert.ok(performance.now() - started >= 900, "it waited before it failed");
      assert.equal(statusOf(refused), "I");
      // With a longer wait the statement runs as soon as one of the others ends.
      await t.svc.settings.set(sqlDoorSettings, {
        ...await t.svc.settings.get(sqlDoorSettings),
        statementWaitSeconds: 10,
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      third.send(query("select 1"));
      assert.deepEqual(rowsOf(await third.until()), [["1"]]);
      assert.ok(performance.now() - started >= 2000, "it ran after one of the sleeps ended");
      await Promise.all([first.until(), second.until()]);
      const audited = await auditedQueries(t);
      assert.ok(audited.some((r) => r.outcome === "denied" && r.message?.startsWith("53300 ")));
    } finally {
      for (const client of clients) await client[Symbol.asyncDispose]();
    }
  },
  // PGlite runs one statement at a time in the server's own thread: nothing runs side by side.
  { only: ["postgres"] },
);

backendTest(
  "the SQL door applies the user's own statement time limit, and an API key's before it",
  async (t) => {
    await using fx = await openDoor(t, { settings: { allowLoopbackCleartext: true } });
    const alice = await actorOf(t.svc, ALICE.email);
    await updateUser(t.svc, t.admin, alice.userId, { statementTimeoutSeconds: 7 });
    await t.svc.settings.set(keySettings, {
      apiKeys: true,
      apiKeyExpiries: ["1w"],
      sessionKeys: false,
    });
    const { session } = await createSession(t.svc, { userId: alice.userId });
    const browser = { ...alice, session: { id: session.id, csrfToken: session.csrf_token } };
    const made = await createApiKey(t.svc, browser, { expiry: "1w" });
    const show = async (login: { user: string; password: string }) => {
      await using client = await RawClient.connect(fx.port, { ...login, database: FOLDER });
      client.send(query("SHOW statement_timeout"));
      return rowsOf(await client.until())[0][0];
    };
    assert.equal(await show(login), "7s");
    assert.equal(await show({ user: "apikey", password: made.key }), "7s");
    await setKeyStatementTimeout(t.svc, t.admin, made.view.id, 120);
    assert.equal(await show({ user: "apikey", password: made.key }), "2min");
    await updateUser(t.svc, t.admin, alice.userId, { statementTimeoutSeconds: null });
    assert.equal(await show(login), "30s", "the site's again");
  },
);

backendTest(
  "a statement past the time limit gets 57014 and the audit log names the limit",
  async (t) => {
    await using fx = await openDoor(t, { settings: { statementTimeoutSeconds: 1 } });
    await using client = await RawClient.connect(fx.port, login);
    client.send(query("select pg_sleep(3)"));
    const reply = await client.until();
    assert.equal(errorOf(reply.find((m) => m.type === "E")!).code, "57014");
    client.send(query("select 1"));
    assert.deepEqual(rowsOf(await client.until()), [["1"]]);
    const audited = (await auditedQueries(t)).find((r) => r.detail === "select pg_sleep(3)")!;
    assert.equal(audited.outcome, "error");
    assert.match(
      audited.message ?? "",
      /^57014 canceling statement due to statement timeout \(limit 1 s, the connection's\)$/,
    );
  },
  // PGlite in the server's thread cannot be interrupted (the embedded database's worker can).
  { only: ["postgres"] },
);
