import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest } from "../../_support/backends.ts";
import { cancelRequest, query } from "../../../wire/protocol/messages.ts";
import { errorOf, RawClient, rowsOf } from "../_client.ts";
import { ALICE, CROSS_JOIN, FOLDER, openDoor } from "../_door.ts";

const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

backendTest(
  "release() gives the session back in the app's role when a client setting cannot be reset",
  async (t) => {
    await using fx = await openDoor(t);
    // Transaction-scoped settings set outside a transaction: RESET of them used to fail inside
    // the reset's one implicit transaction and take RESET ROLE back with it.
    for (
      const setting of ["transaction_isolation = 'serializable'", "transaction_deferrable = on"]
    ) {
      await using client = await RawClient.connect(fx.port, login);
      client.send(query(`set ${setting}`), query("select 1"));
      for (const reply of [await client.until(), await client.until()]) {
        const error = reply.find((m) => m.type === "E");
        assert.equal(error, undefined, error && errorOf(error).message);
      }
      client.close();
      for (let i = 0; i < 50 && fx.door.connections > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const { rows } = await sql<{ role: string }>`select current_user as role`
        .execute(t.svc.database.root);
      assert.equal(rows[0].role, "postgres", `after set ${setting}`);
    }
    await t.svc.audit.flush();
    const entries = await t.svc.db.selectFrom("audit_log").select("detail")
      .where("door", "=", "sql").where("event", "=", "sql.query").execute();
    assert.ok(entries.some((e) => e.detail === "set transaction_deferrable = on"));
  },
  { only: ["pglite"] },
);

backendTest(
  "cancel() stops a running statement by a restart; the session keeps its settings and sandbox",
  async (t) => {
    await using fx = await openDoor(t);
    await using client = await RawClient.connect(fx.port, login);
    client.send(query("set statement_timeout = '20s'"));
    await client.until();
    client.send(query(CROSS_JOIN));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await using cancel = await RawClient.open(fx.port);
    await cancel.write(cancelRequest(client.pid, client.secret));
    await cancel.closedByServer();
    const reply = await client.until();
    const error = errorOf(reply.find((m) => m.type === "E")!);
    assert.equal(error.code, "57014");
    assert.equal(error.message, "canceling statement due to user request");
    client.send(query("show statement_timeout"));
    assert.deepEqual(rowsOf(await client.until()), [["20s"]]);
    client.send(query("select count(*) from lists.samples"));
    assert.deepEqual(rowsOf(await client.until()), [["3"]]);
  },
  { only: ["pglite"], onDisk: true },
);
