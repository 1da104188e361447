/**
 * Changes made in a transaction write their audit record on it (issue 18):
 * stored when the change returns, and no change without its record.
 */
import assert from "node:assert/strict";
import { createContainer, getContainerByPath, setPolicy } from "../../../src/data/containers.ts";
import { createGroup } from "../../../src/data/groups.ts";
import { createList, deleteList } from "../../../src/data/lists.ts";
import { createUser } from "../../../src/data/users.ts";
import { createApiKey, revokeKey } from "../../../src/doors/keys/mod.ts";
import { backendTest, type TestContext } from "../../_support/backends.ts";
import { refuseAuditWrites } from "../../_support/audit.ts";
import { browserAdmin } from "../../_support/keys.ts";

const LIST = { name: "Plates", key: "Id", columns: [{ name: "Id", type: "Text" }] };

/** The events stored so far, without waiting for any batch. */
async function events(t: TestContext): Promise<string[]> {
  const rows = await t.svc.db.selectFrom("audit_log").select("event")
    .where("event", "not in", ["admin.bootstrap", "login"]).orderBy("id").execute();
  return rows.map((r) => r.event);
}

backendTest(
  "folder, list, permission, group, user and key changes store their record when they return",
  async (t) => {
    await createContainer(t.svc, t.admin, { parentPath: "/home", name: "lab" });
    await createList(t.svc, t.admin, "/home/lab", LIST);
    await deleteList(t.svc, t.admin, "/home/lab", "Plates");
    const user = await createUser(t.svc, t.admin, {
      email: "kim@example.org",
      password: "kim-password-1",
    });
    await setPolicy(t.svc, t.admin, "/home/lab", {
      inherit: false,
      assignments: [{ principalId: user.id, role: "reader" }],
    });
    await createGroup(t.svc, t.admin, { name: "Analysts" });
    const { view } = await createApiKey(t.svc, await browserAdmin(t), { expiry: "1w" });
    await revokeKey(t.svc, t.admin, view.id);
    assert.deepEqual(await events(t), [
      "folder.create",
      "list.create",
      "list.delete",
      "user.create",
      "permissions.change",
      "group.create",
      "api_key.create",
      "api_key.revoke",
    ]);
  },
);

backendTest("a folder, list or key change whose record cannot be stored is not made", async (t) => {
  const browser = await browserAdmin(t);
  const allow = await refuseAuditWrites(t);
  try {
    await assert.rejects(() =>
      createContainer(t.svc, t.admin, { parentPath: "/home", name: "lab" })
    );
    await assert.rejects(() => createList(t.svc, t.admin, "/home", LIST));
    await assert.rejects(() => createApiKey(t.svc, browser, { expiry: "1w" }), /audit refused/);
  } finally {
    await allow();
  }
  assert.equal(await getContainerByPath(t.svc, "/home/lab"), undefined);
  assert.equal(await t.svc.db.selectFrom("lists").select("id").executeTakeFirst(), undefined);
  assert.equal(await t.svc.db.selectFrom("keys").select("id").executeTakeFirst(), undefined);
});
