/**
 * The audit record of a write to a list's rows is written on the write's
 * own transaction: committed together, or neither (issue 18).
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { createContainer } from "../../../src/data/containers.ts";
import { createList } from "../../../src/data/lists.ts";
import { deleteRows, importRows, insertRows, updateRows } from "../../../src/data/rows.ts";
import { backendTest, type TestContext } from "../../_support/backends.ts";
import { refuseAuditWrites } from "../../_support/audit.ts";

async function plates(t: TestContext) {
  await createContainer(t.svc, t.admin, { parentPath: "/home", name: "lab" });
  return await createList(t.svc, t.admin, "/home/lab", {
    name: "Plates",
    key: "Id",
    columns: [{ name: "Id", type: "Text" }, { name: "Wells", type: "Integer" }],
  });
}

async function rowCount(t: TestContext, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`
    .execute(t.svc.database.root);
  return rows[0].n;
}

/** The rows.* entries stored so far, without waiting for any batch. */
async function writeRecords(t: TestContext): Promise<string[]> {
  const rows = await t.svc.db.selectFrom("audit_log").select(["event", "rows", "detail"])
    .where("event", "like", "rows.%").orderBy("id").execute();
  return rows.map((r) => `${r.event} ${r.rows} ${r.detail}`);
}

backendTest(
  "insertRows(), updateRows(), deleteRows() and importRows() store their audit record when they return",
  async (t) => {
    const def = await plates(t);
    await insertRows(t.svc, t.admin, def, [{ Id: "a", Wells: 96 }, { Id: "b", Wells: 384 }]);
    await updateRows(t.svc, t.admin, def, [{ Id: "a", Wells: 48 }]);
    await deleteRows(t.svc, t.admin, def, ["b"]);
    await importRows(t.svc, t.admin, def, { text: "Id,Wells\nc,6\nd,12\ne,24\n" });
    assert.deepEqual(await writeRecords(t), [
      "rows.insert 2 Plates",
      "rows.update 1 Plates",
      "rows.delete 1 Plates",
      "rows.import 3 Plates",
    ]);
  },
);

backendTest("a write to a list whose audit record cannot be stored changes nothing", async (t) => {
  const def = await plates(t);
  await insertRows(t.svc, t.admin, def, [{ Id: "a", Wells: 96 }]);
  const allow = await refuseAuditWrites(t);
  try {
    await assert.rejects(() => insertRows(t.svc, t.admin, def, [{ Id: "b", Wells: 1 }]));
    await assert.rejects(() => importRows(t.svc, t.admin, def, { text: "Id,Wells\nc,1\nd,2\n" }));
    await assert.rejects(() => updateRows(t.svc, t.admin, def, [{ Id: "a", Wells: 1 }]));
    await assert.rejects(() => deleteRows(t.svc, t.admin, def, ["a"]));
  } finally {
    await allow();
  }
  assert.equal(await rowCount(t, def.qualifiedTable), 1);
  const { rows } = await sql<{ wells: number }>`select wells from ${sql.table(def.qualifiedTable)}`
    .execute(t.svc.database.root);
  assert.equal(rows[0].wells, 96);
  assert.deepEqual(await writeRecords(t), ["rows.insert 1 Plates"]);
});
