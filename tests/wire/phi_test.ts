/**
 * PHI levels on the SQL door: a list with columns above the connection's
 * level reads as its other columns, by every way SQL can reach its rows
 * (`*`, whole rows, row_to_json, COPY, subqueries); the catalog leaves the
 * withheld columns out; a statement naming one is refused (42501, naming the
 * column and the level it needs, never a value); a level changed while a
 * connection is open reaches its next statement, prepared ones included.
 */
import assert from "node:assert/strict";
import type { Actor } from "../../src/core/actor.ts";
import { createList, getList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { applyDesignChange } from "../../src/data/list_design.ts";
import { backendTest, type TestContext } from "../_support/backends.ts";
import { keysAtEachLevel } from "../_support/keys.ts";
import { bindText, execute, parse, query, SYNC } from "../../wire/protocol/messages.ts";
import { concat } from "../../wire/protocol/bytes.ts";
import { errorOf, type Message, RawClient, rowsOf } from "./_client.ts";
import { ALICE, FOLDER, openDoor, SAMPLE_COLUMNS } from "./_door.ts";
import { updateExternalApp } from "../../src/doors/tokens/apps.ts";
import {
  APP_ID,
  APP_PASSWORD,
  APP_USER,
  FOLDER as APP_FOLDER,
  tokenWorld,
} from "../_support/tokens.ts";
import { sql } from "kysely";
import { folderSchema } from "../../src/data/physical.ts";
import { getContainerByPath } from "../../src/data/containers.ts";

const cleartext = { settings: { allowLoopbackCleartext: true } };

/** A list with a column at each level in `folder` (Alice reads FOLDER). */
async function patients(t: TestContext, folder = FOLDER) {
  const list = await createList(t.svc, t.admin, folder, {
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

/** Ways of reading `patients` that name no column: they read the visible columns only. */
const READS = [
  "select * from lists.patients",
  "table patients",
  "select * from only patients",
  `select * from "/home/assays".lists.patients`,
  "select row_to_json(p) from patients p",
  "select to_jsonb(p.*) from lists.patients p",
  "select p from patients p",
  "select p::text from patients as p",
  "with x as (select * from patients) select * from x",
  "select * from (select * from patients) s",
  "select s.* from (table patients) s",
  "select lists.patients.* from lists.patients",
  "copy patients to stdout",
  "copy lists.patients (id, site) to stdout",
  "select json_agg(p) from patients p",
  "select * from lists.patients p(a, b)",
  "select * from patients natural join patients p2",
  "select jsonb_populate_record(null::lists.patients, to_jsonb(p)) from patients p",
  "declare c cursor for select * from patients; fetch all from c",
];

/** Ways of naming a withheld column: refused, whatever they go through. */
const NAMINGS = [
  "select mrn from patients",
  "select p.mrn from patients p",
  "select lists.patients.mrn from lists.patients",
  "select (p).mrn from patients p",
  "select (p.*).mrn from patients p",
  "with x as (select * from patients) select x.mrn from x",
  "select s.mrn from (select * from patients) s",
  "select count(*) from patients where mrn like 'M%'",
  "select 1 where exists (select 1 from patients where mrn like 'M%')",
  "select * from patients a join patients b using (mrn)",
  "select id from patients order by mrn",
  "copy (select mrn from patients) to stdout",
  "copy patients (id, mrn) to stdout",
  "declare c cursor for select mrn from patients",
  "select (select mrn from patients limit 1)",
  `select "/home/assays".lists.patients.mrn from lists.patients`,
  "select site from patients where (patients).mrn is not null",
  "select * from patients p, lateral (select p.mrn) x",
];

/** Every value of the row in `patients`, as the client would see it, and which a level may see. */
const VALUES = { site: "north", birth: "1970", mrn: "MRN-77" };

backendTest(
  "the SQL door reads a list without the columns above the level, by every way",
  async (t) => {
    await using fx = await openDoor(t, cleartext);
    await patients(t);
    const keys = await keysAtEachLevel(t, ALICE.email);
    const connect = (login: { user: string; password: string }) =>
      RawClient.connect(fx.port, { ...login, database: FOLDER });
    await using byPassword = await connect(loginOf(ALICE));
    await using byLimited = await connect({ user: "apikey", password: keys.limited });
    await using byFull = await connect({ user: "apikey", password: keys.full });
    const levels = [
      { client: byPassword, visible: ["id", "site"], hidden: ["birth", "mrn"] },
      { client: byLimited, visible: ["id", "site", "birth"], hidden: ["mrn"] },
      { client: byFull, visible: ["id", "site", "birth", "mrn"], hidden: [] },
    ];
    // Statistics are column values: the engine has them for every column.
    const folder = await getContainerByPath(t.svc, FOLDER);
    await sql.raw(`analyze ${folderSchema(folder!.id)}.patients`).execute(t.svc.database.root);
    for (const { client, visible, hidden } of levels) {
      const secret = hidden.map((c) => VALUES[c as keyof typeof VALUES]);
      assert.deepEqual(
        rowsOf(await ask(client, "select * from patients")),
        [["1", ...visible.slice(1).map((c) => VALUES[c as keyof typeof VALUES])]],
      );
      for (const text of READS) {
        const reply = await ask(client, text);
        assert.ok(!reply.some((m) => m.type === "E"), `${text}: ${errorText(reply)}`);
        for (const value of secret) {
          assert.ok(
            !replyText(reply).includes(value),
            `${text}: ${value}`,
          );
        }
        assert.ok(replyText(reply).includes("north"), text);
      }
      for (const text of hidden.includes("mrn") ? NAMINGS : []) {
        const error = refusal(await ask(client, text));
        assert.equal(error.code, "42501", text);
        assert.match(error.message, /^Column "mrn" needs PHI level full/, text);
        assert.doesNotMatch(error.message, /MRN-77|north|1970/, "no values");
      }
      // The catalog leaves out what SQL does not read.
      const catalog = [
        "select attname from pg_attribute where attrelid = 'lists.patients'::regclass " +
        "and attnum > 0 order by attnum",
        "select column_name from information_schema.columns where table_name = 'patients' " +
        "order by ordinal_position",
        "select attname from pg_stats where tablename = 'patients' order by attname",
      ];
      for (const text of catalog) {
        const names = rowsOf(await ask(client, text)).map(([name]) => name);
        assert.deepEqual(names.toSorted(), visible.toSorted(), text);
      }
      // Other lists read as before.
      assert.deepEqual(rowsOf(await ask(client, "select count(*) from lists.samples")), [["3"]]);
    }
    assert.match(
      refusal(await ask(byPassword, "select birth from patients")).message,
      /^Column "birth" needs PHI level limited .*\(your level: not_phi\)$/,
    );
    assert.equal(refusal(await ask(byLimited, "select birth, mrn from patients")).position, "15");
    await using byNotPhi = await connect({ user: "apikey", password: keys.not_phi });
    assert.equal(refusal(await ask(byNotPhi, "select birth from patients")).code, "42501");
    assert.deepEqual(rowsOf(await ask(byNotPhi, "select site from patients")), [["north"]]);
    await t.svc.audit.flush();
    const denied = await t.svc.db.selectFrom("audit_log").select(["message", "compliance"])
      .where("event", "=", "sql.query").where("outcome", "=", "denied")
      .where("detail", "=", "select birth from patients").orderBy("id").execute();
    assert.equal(denied.length, 2);
    assert.match(denied[0].message ?? "", /"birth" needs PHI level limited/);
    // Each entry records the level in force, as the HTTP doors' do.
    const inForce = denied.map((e) =>
      (typeof e.compliance === "string" ? JSON.parse(e.compliance) : e.compliance)?.phiLevelInForce
    );
    assert.deepEqual(inForce, ["not_phi", "not_phi"]);
    // A read that did not see some columns says which, never their values.
    const reads = await t.svc.db.selectFrom("audit_log").select(["message", "credential_id"])
      .where("event", "=", "sql.query").where("outcome", "=", "ok")
      .where("detail", "=", "select * from patients").orderBy("id").execute();
    assert.deepEqual(reads.map((e) => e.message), [
      "Columns withheld above PHI level not_phi: patients (birth, mrn)",
      "Columns withheld above PHI level limited: patients (mrn)",
      null,
    ]);
  },
);

backendTest("a PHI level changed on an open connection reaches its next statement", async (t) => {
  await using fx = await openDoor(t, cleartext);
  await patients(t);
  await using client = await RawClient.connect(fx.port, { ...loginOf(ALICE), database: FOLDER });
  // Prepared before the change, as drivers keep statements.
  client.send(concat([
    parse("s1", "select label from lists.samples where id = $1", new Uint8Array(2)),
    parse("s2", "select * from lists.samples where id = $1", new Uint8Array(2)),
    SYNC,
  ]));
  await client.until();
  const run = async (name: string) => {
    client.send(concat([bindText("", name, ["1"]), execute(""), SYNC]));
    return await client.until();
  };
  assert.deepEqual(rowsOf(await run("s1")), [["alpha"]]);
  assert.equal(rowsOf(await run("s2"))[0].length, SAMPLE_COLUMNS.length);
  const samples = await getList(t.svc, t.admin, FOLDER, "samples");
  await applyDesignChange(t.svc, t.admin, samples, { kind: "phi", column: "label", phi: "full" });
  const error = refusal(await run("s1"));
  assert.equal(error.code, "42501");
  assert.match(error.message, /"label" needs PHI level full/);
  // Its columns changed: refused as PostgreSQL refuses it, so drivers prepare it again.
  assert.equal(refusal(await run("s2")).code, "0A000");
  const now = rowsOf(await ask(client, "select * from samples where id = 1"));
  assert.equal(now[0].length, SAMPLE_COLUMNS.length - 1);
  assert.ok(!now[0].includes("alpha"));
  assert.deepEqual(
    rowsOf(
      await ask(
        client,
        "select count(*) from information_schema.columns " +
          "where table_name = 'samples' and column_name = 'label'",
      ),
    ),
    [["0"]],
  );
  await applyDesignChange(t.svc, t.admin, samples, {
    kind: "phi",
    column: "label",
    phi: "not_phi",
  });
  assert.deepEqual(rowsOf(await run("s1")), [["alpha"]]);
});

backendTest(
  "a portal opened before a PHI level change is refused when it resumes",
  async (t) => {
    await using fx = await openDoor(t, cleartext);
    await using client = await RawClient.connect(fx.port, { ...loginOf(ALICE), database: FOLDER });
    await ask(client, "begin");
    // As pgJDBC with a fetch size: one row now, the rest later from the same portal.
    client.send(concat([
      parse("", "select * from lists.samples order by id", new Uint8Array(2)),
      bindText("p", "", []),
      execute("p", 1),
      SYNC,
    ]));
    assert.equal(rowsOf(await client.until()).length, 1);
    const samples = await getList(t.svc, t.admin, FOLDER, "samples");
    await applyDesignChange(t.svc, t.admin, samples, { kind: "phi", column: "label", phi: "full" });
    client.send(concat([execute("p", 0), SYNC]));
    const error = refusal(await client.until());
    assert.equal(error.code, "0A000");
    assert.doesNotMatch(error.message, /beta|gamma/);
  },
  { only: ["postgres"] }, // on PGlite the open transaction holds the one session the change needs
);

backendTest(
  "a cursor declared or a statement prepared in SQL before a PHI level change is refused after it",
  async (t) => {
    await using fx = await openDoor(t, cleartext);
    await using client = await RawClient.connect(fx.port, { ...loginOf(ALICE), database: FOLDER });
    await ask(client, "declare c cursor with hold for select * from lists.samples order by id");
    await ask(client, "prepare p as select * from lists.samples where id = 1");
    assert.deepEqual(rowsOf(await ask(client, "fetch 1 from c"))[0][1], "alpha");
    const samples = await getList(t.svc, t.admin, FOLDER, "samples");
    await applyDesignChange(t.svc, t.admin, samples, { kind: "phi", column: "label", phi: "full" });
    for (const text of ["fetch all from c", "move 1 in c", "execute p"]) {
      const reply = await ask(client, text);
      const error = refusal(reply);
      assert.equal(error.code, "0A000", `${text}: ${error.message}`);
      assert.match(error.message, /PHI/);
      assert.doesNotMatch(JSON.stringify(reply), /beta/);
    }
    // Declared or prepared again, they read the columns the level allows.
    await ask(client, "close c");
    await ask(client, "deallocate p");
    await ask(client, "declare c cursor with hold for select * from lists.samples order by id");
    await ask(client, "prepare p as select * from lists.samples where id = 1");
    assert.equal(rowsOf(await ask(client, "fetch 1 from c"))[0].length, SAMPLE_COLUMNS.length - 1);
    assert.equal(rowsOf(await ask(client, "execute p"))[0].length, SAMPLE_COLUMNS.length - 1);
  },
  // On PGlite a held cursor keeps the one session the change needs: the change ends the connection.
  { only: ["postgres"] },
);

backendTest("an external app's account and tokens sign in at its app's PHI level", async (t) => {
  await using fx = await openDoor(t, cleartext);
  const world = await tokenWorld(t);
  const app = {
    description: "Test app",
    entryPoints: ["sql" as const],
    defaultExpiryDays: 30,
    phiLevel: "limited",
  };
  await updateExternalApp(t.svc, t.admin, APP_ID, app);
  await patients(t, APP_FOLDER);
  const login = { user: APP_USER, password: APP_PASSWORD, database: APP_FOLDER };
  await using byApp = await RawClient.connect(fx.port, login);
  const token = (await world.token()).value;
  await using byToken = await RawClient.connect(fx.port, {
    user: "token",
    password: token,
    database: APP_FOLDER,
  });
  for (const client of [byApp, byToken]) {
    assert.deepEqual(rowsOf(await ask(client, "select * from patients")), [["1", "north", "1970"]]);
  }
  assert.match(
    refusal(await ask(byApp, "select mrn from patients")).message,
    /"mrn" needs PHI level full.*\(your level: limited\)$/,
  );
  // The app's level changed: its accounts' connections end, and sign in again at the new one.
  await updateExternalApp(t.svc, t.admin, APP_ID, { ...app, phiLevel: "not_phi" });
  for (const client of [byApp, byToken]) {
    await client.write(query("select 1")).catch(() => {});
    const seen = await client.closedByServer();
    assert.ok(!seen.some((m) => m.type === "D"), "no rows after the change");
    assert.match(errorOf(seen.find((m) => m.type === "E")!).message, /now has PHI level not_phi/);
  }
  await updateExternalApp(t.svc, t.admin, APP_ID, { ...app, phiLevel: "full" });
  await using again = await RawClient.connect(fx.port, login);
  assert.deepEqual(rowsOf(await ask(again, "select mrn from patients")), [["MRN-77"]]);
});

function replyText(reply: Message[]): string {
  return new TextDecoder().decode(concat(reply.map((m) => m.bytes)));
}

function errorText(reply: Message[]): string {
  const error = reply.find((m) => m.type === "E");
  return error ? errorOf(error).message : "";
}

function loginOf(login: typeof ALICE) {
  return { user: login.email, password: login.password };
}
