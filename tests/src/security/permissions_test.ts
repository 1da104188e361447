import assert from "node:assert/strict";
import { backendTest } from "../../_support/backends.ts";
import { createContainer, getContainerByPath, setPolicy } from "../../../src/data/containers.ts";
import { createGroup, setMembership } from "../../../src/data/groups.ts";
import { createUser, updateUser } from "../../../src/data/users.ts";
import { ALL_PERMISSIONS, Permission } from "../../../src/security/permissions.ts";

const { READ, INSERT, UPDATE, DELETE } = Permission;

backendTest("resolve() inherits the parent's policy until a folder has its own", async (t) => {
  const { svc, admin } = t;
  const alice = await createUser(svc, admin, {
    email: "alice@example.org",
    password: "password-1",
  });
  await createContainer(svc, admin, { parentPath: "/home", name: "assays" });
  const plate = await createContainer(svc, admin, { parentPath: "/home/assays", name: "plate1" });
  await setPolicy(svc, admin, "/home", {
    inherit: false,
    assignments: [{ principalId: alice.id, role: "reader" }],
  });
  assert.equal(await svc.permissions.resolve(alice.id, plate.id), READ);
  await setPolicy(svc, admin, "/home/assays/plate1", {
    inherit: false,
    assignments: [{ principalId: alice.id, role: "editor" }],
  });
  assert.equal(await svc.permissions.resolve(alice.id, plate.id), READ | INSERT | UPDATE | DELETE);
  const assays = (await getContainerByPath(svc, "/home/assays"))!;
  assert.equal(await svc.permissions.resolve(alice.id, assays.id), READ);
  await setPolicy(svc, admin, "/home/assays/plate1", { inherit: true, assignments: [] });
  assert.equal(await svc.permissions.resolve(alice.id, plate.id), READ);
});

backendTest("resolve() unions the user's own roles with their groups' roles", async (t) => {
  const { svc, admin } = t;
  const bob = await createUser(svc, admin, { email: "bob@example.org" });
  const group = await createGroup(svc, admin, { name: "Chemists" });
  const folder = await createContainer(svc, admin, {
    parentPath: "/home",
    name: "chem",
    inheritPolicy: false,
  });
  await setPolicy(svc, admin, "/home/chem", {
    inherit: false,
    assignments: [{ principalId: bob.id, role: "reader" }, {
      principalId: group.id,
      role: "author",
    }],
  });
  assert.equal(await svc.permissions.resolve(bob.id, folder.id), READ);
  await setMembership(svc, admin, { groupId: group.id, userId: bob.id, member: true });
  assert.equal(await svc.permissions.resolve(bob.id, folder.id), READ | INSERT);
  assert.equal(await svc.permissions.resolve(group.id, folder.id), READ | INSERT);
  await setMembership(svc, admin, { groupId: group.id, userId: bob.id, member: false });
  assert.equal(await svc.permissions.resolve(bob.id, folder.id), READ);
});

backendTest("resolve() gives site admins everything and inactive users nothing", async (t) => {
  const { svc, admin } = t;
  const folder = await createContainer(svc, admin, {
    parentPath: "/home",
    name: "private",
    inheritPolicy: false,
  });
  assert.equal(await svc.permissions.resolve(admin.userId, folder.id), ALL_PERMISSIONS);
  const carol = await createUser(svc, admin, { email: "carol@example.org" });
  await setPolicy(svc, admin, "/home/private", {
    inherit: false,
    assignments: [{ principalId: carol.id, role: "folder_admin" }],
  });
  assert.equal(await svc.permissions.resolve(carol.id, folder.id), ALL_PERMISSIONS);
  await updateUser(svc, admin, carol.id, { active: false });
  assert.equal(await svc.permissions.resolve(carol.id, folder.id), 0);
  assert.equal(await svc.permissions.resolve(carol.id, 999_999), 0);
});
