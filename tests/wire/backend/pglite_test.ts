import assert from "node:assert/strict";
import { sql } from "kysely";
import { backendTest } from "../../_support/backends.ts";
import { query } from "../../../wire/protocol/messages.ts";
import { errorOf, RawClient } from "../_client.ts";
import { ALICE, FOLDER, openDoor } from "../_door.ts";

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
