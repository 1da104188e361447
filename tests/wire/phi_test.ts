/**
 * PHI levels on the SQL door: a list with columns above the connection's
 * level is refused whole (42501, naming the columns and the levels they
 * need, never a value), by every way SQL can reach its rows; lists without
 * such columns read as before; a level raised while a connection is open
 * reaches its next statement, prepared ones included.
 */
import assert from "node:assert/strict";
import type { Actor } from "../../src/core/actor.ts";
import { createList, getList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { applyDesignChange } from "../../src/data/list_design.ts";
import { createSession } from "../../src/data/sessions.ts";
import { createApiKey } from "../../src/doors/keys/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { actorOf, backendTest, type TestContext } from "../_support/backends.ts";
import { bindText, execute, parse, query, SYNC } from "../../wire/protocol/messages.ts";
import { concat } from "../../wire/protocol/bytes.ts";
import { errorOf, type Message, RawClient, rowsOf } from "./_client.ts";
import { ALICE, FOLDER, openDoor } from "./_door.ts";

const cleartext = { settings: { allowLoopbackCleartext: true } };

/** A list with a column at each level; Alice reads the folder. */
async function patients(t: TestContext) {
  const list = await createList(t.svc, t.admin, FOLDER, {
    name: "patients",
    key: "id",
    columns: [
      { name: "id", type: "Integer" },
      { name: "site", type: "Text" },
      { name: "birth", type: "Text", phi: "limited" },
      { name: "mrn", type: "Text", phi: "full" },
    ],
  });
  const fullPhi: Actor = { ...t.admin, phiLevel: "full" };
  await insertRows(t.svc, fullPhi, list, [{ id: 1, site: "north", birth: "1970", mrn: "MRN-77" }]);
}

/** API keys of Alice's at each level, made in a session that declared full PHI. */
async function keysAt(t: TestContext) {
  await t.svc.settings.set(keySettings, {
    apiKeys: true,
    apiKeyExpiries: ["1w"],
    sessionKeys: false,
  });
  const alice = await actorOf(t.svc, ALICE.email);
  const { session } = await createSession(t.svc, {
    userId: alice.userId,
    compliance: { termsAccepted: true, irbNumber: "IRB-1", phiLevel: "full" },
  });
  const browser: Actor = {
    ...alice,
    compliance: session.compliance as Actor["compliance"],
    session: { id: session.id, csrfToken: session.csrf_token },
  };
  const key = async (phiLevel: "not_phi" | "limited" | "full") =>
    (await createApiKey(t.svc, browser, { expiry: "1w", phiLevel })).key;
  return { notPhi: await key("not_phi"), limited: await key("limited"), full: await key("full") };
}

async function ask(client: RawClient, text: string): Promise<Message[]> {
  client.send(query(text));
  return await client.until();
}

function refusal(reply: Message[]) {
  assert.deepEqual(reply.filter((m) => m.type === "D"), [], "no rows");
  assert.ok(!reply.some((m) => m.type === "C"), "no command tag (no row count)");
  const error = reply.find((m) => m.type === "E");
  assert.ok(error, `an error, got ${reply.map((m) => m.type).join("")}`);
  return errorOf(error);
}

/** Every way of writing SQL that reaches the rows of `patients`. */
const WAYS = [
  "select * from lists.patients",
  "select site from patients",
  "table patients",
  "select row_to_json(p) from patients p",
  "select to_jsonb(p.*) from lists.patients p",
  "select p from patients p",
  "with x as (select * from patients) select count(*) from x",
  "select count(*) from (select 1 from patients) s",
  "select 1 where exists (select 1 from patients where mrn like 'M%')",
  "copy patients to stdout",
  "copy (select mrn from patients) to stdout",
  `select * from "/home/assays".lists.patients`,
];

backendTest("the SQL door refuses a list with columns above the level, by every way", async (t) => {
  await using fx = await openDoor(t, cleartext);
  await patients(t);
  const keys = await keysAt(t);
  await using byPassword = await RawClient.connect(fx.port, {
    ...loginOf(ALICE),
    database: FOLDER,
  });
  await using byLimited = await RawClient.connect(fx.port, {
    user: "apikey",
    password: keys.limited,
    database: FOLDER,
  });
  for (const client of [byPassword, byLimited]) {
    for (const text of WAYS) {
      const error = refusal(await ask(client, text));
      assert.equal(error.code, "42501", text);
      assert.doesNotMatch(error.message, /MRN-77|north|1970/, "no values");
    }
    // Other lists read as before; statistics would show the values.
    assert.deepEqual(rowsOf(await ask(client, "select count(*) from lists.samples")), [["3"]]);
    assert.equal(refusal(await ask(client, "select * from pg_stats")).code, "42501");
  }
  const password = refusal(await ask(byPassword, "select site from patients"));
  assert.match(password.message, /"birth" \(limited\), "mrn" \(full\)/);
  assert.match(password.message, /above PHI level not_phi/);
  assert.match(
    refusal(await ask(byLimited, "table patients")).message,
    /^List "patients".*"mrn" \(full\)\./,
  );

  await using byFull = await RawClient.connect(fx.port, {
    user: "apikey",
    password: keys.full,
    database: FOLDER,
  });
  assert.deepEqual(rowsOf(await ask(byFull, "select id, site, birth, mrn from patients")), [[
    "1",
    "north",
    "1970",
    "MRN-77",
  ]]);
  await using byNotPhi = await RawClient.connect(fx.port, {
    user: "apikey",
    password: keys.notPhi,
    database: FOLDER,
  });
  assert.equal(refusal(await ask(byNotPhi, "select id from patients")).code, "42501");
  await t.svc.audit.flush();
  const denied = await t.svc.db.selectFrom("audit_log").select("message")
    .where("event", "=", "sql.query").where("outcome", "=", "denied")
    .where("detail", "=", "select id from patients").execute();
  assert.equal(denied.length, 1);
  assert.match(denied[0].message ?? "", /"mrn" \(full\)/);
});

backendTest("a PHI level raised on an open connection reaches its next statement", async (t) => {
  await using fx = await openDoor(t, cleartext);
  await patients(t);
  await using client = await RawClient.connect(fx.port, { ...loginOf(ALICE), database: FOLDER });
  // Prepared before the change, as drivers keep statements.
  client.send(
    concat([parse("s1", "select label from lists.samples where id = $1", new Uint8Array(2)), SYNC]),
  );
  await client.until();
  const run = async () => {
    client.send(concat([bindText("", "s1", ["1"]), execute(""), SYNC]));
    return await client.until();
  };
  assert.deepEqual(rowsOf(await run()), [["alpha"]]);
  const samples = await getList(t.svc, t.admin, FOLDER, "samples");
  await applyDesignChange(t.svc, t.admin, samples, { kind: "phi", column: "label", phi: "full" });
  const error = refusal(await run());
  assert.equal(error.code, "42501");
  assert.match(error.message, /"label" \(full\)/);
  assert.equal(refusal(await ask(client, "select count(*) from samples")).code, "42501");
  await applyDesignChange(t.svc, t.admin, samples, {
    kind: "phi",
    column: "label",
    phi: "not_phi",
  });
  assert.deepEqual(rowsOf(await run()), [["alpha"]]);
});

function loginOf(login: typeof ALICE) {
  return { user: login.email, password: login.password };
}
