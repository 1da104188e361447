import assert from "node:assert/strict";
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { applyDesignChange } from "../../src/data/list_design.ts";
import { createList, deleteList, type ListColumnInput } from "../../src/data/lists.ts";
import { getUserByEmail } from "../../src/data/users.ts";
import { Reader } from "../../wire/protocol/bytes.ts";
import { query } from "../../wire/protocol/messages.ts";
import { backendTest } from "../_support/backends.ts";
import { errorOf, rowsOf } from "./_client.ts";
import { ALICE, connectRawClient, FOLDER, openDoor } from "./_door.ts";

/** The list the catalog test changes: capitalized names, and a column above Alice's PHI level. */
const PLATES: readonly ListColumnInput[] = [
  { name: "SampleId", type: "Text" },
  { name: "DoseMg", type: "Double" },
  { name: "Patient", type: "Text", phi: "full" },
];

/** A new session of Alice's in FOLDER: each reply to `sql`, as column names, rows or the error. */
async function freshSession(port: number, sql: string) {
  await using client = await connectRawClient(port);
  client.send(query(sql));
  const reply = await client.until();
  const error = reply.find((m) => m.type === "E");
  if (error) return { error: errorOf(error).message, columns: [], rows: [] };
  const description = reply.find((m) => m.type === "T")!;
  const r = new Reader(description.bytes, 5);
  const columns: string[] = [];
  for (let i = r.i16(); i > 0; i--) {
    columns.push(new TextDecoder().decode(r.cbytes()));
    r.bytes(18);
  }
  return { error: null, columns, rows: rowsOf(reply) };
}

backendTest(
  "folderScope() shows sessions started after a list change the lists as they are now",
  async (t) => {
    await using fx = await openDoor(t);
    // A session before the change: what it read may be reused by the next ones.
    assert.equal((await freshSession(fx.port, "select 1")).error, null);
    const plates = await createList(t.svc, t.admin, FOLDER, {
      name: "plates",
      key: "SampleId",
      columns: [...PLATES],
    });
    // Capitalized names as defined, and the PHI column withheld (a password declares not_phi).
    assert.deepEqual((await freshSession(fx.port, "select * from plates")).columns, [
      "SampleId",
      "DoseMg",
    ]);
    await applyDesignChange(t.svc, t.admin, plates, {
      kind: "rename",
      column: "DoseMg",
      to: "DoseUg",
    });
    assert.deepEqual((await freshSession(fx.port, "select * from plates")).columns, [
      "SampleId",
      "DoseUg",
    ]);
    await deleteList(t.svc, t.admin, FOLDER, "plates");
    assert.match((await freshSession(fx.port, "select * from plates")).error ?? "", /plates/);
  },
);

backendTest(
  "folderScope() shows sessions started after a role change the folders they may read now",
  async (t) => {
    await using fx = await openDoor(t);
    const alice = (await getUserByEmail(t.svc, ALICE.email))!;
    await createContainer(t.svc, t.admin, { parentPath: "/home", name: "plates" });
    await setPolicy(t.svc, t.admin, "/home/plates", {
      inherit: false,
      assignments: [{ principalId: alice.id, role: "reader" }],
    });
    const databases = "select datname from pg_database where datname like '/home/%' order by 1";
    assert.deepEqual((await freshSession(fx.port, databases)).rows, [
      ["/home/assays"],
      ["/home/plates"],
    ]);
    // In force at once for the next session, not only within the second the cache may hold it.
    await setPolicy(t.svc, t.admin, "/home/plates", { inherit: false, assignments: [] });
    assert.deepEqual((await freshSession(fx.port, databases)).rows, [["/home/assays"]]);
  },
);
