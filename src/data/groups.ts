/** Site groups and their members. Managing them needs Site Admin. */
import { sql } from "kysely";
import { type Actor, auditActor } from "../core/actor.ts";
import type { Group } from "../db/schema.ts";
import { badRequest, conflict, notFound } from "../errors.ts";
import type { Services } from "../services.ts";
import { requireSiteAdmin } from "./users.ts";

interface GroupView {
  id: number;
  name: string;
  description: string;
  members: { id: number; email: string; displayName: string }[];
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 100) throw badRequest("Group name must be 1 to 100 characters");
  return trimmed;
}

async function getGroup(svc: Services, id: number): Promise<Group | undefined> {
  return await svc.db.selectFrom("groups").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function createGroup(
  svc: Services,
  actor: Actor,
  input: { name: string; description?: string },
): Promise<Group> {
  await requireSiteAdmin(svc, actor);
  const name = checkName(input.name);
  const clash = await svc.db.selectFrom("groups").select("id")
    .where(sql`lower(name)`, "=", name.toLowerCase()).executeTakeFirst();
  if (clash) throw conflict(`A group named ${name} already exists`);
  const group = await svc.db.transaction().execute(async (trx) => {
    const { id } = await trx.insertInto("principals").values({ kind: "group" }).returning("id")
      .executeTakeFirstOrThrow();
    const group = await trx.insertInto("groups").values({
      id,
      name,
      description: input.description ?? "",
    }).returningAll().executeTakeFirstOrThrow();
    await svc.audit.recordIn(trx, {
      ...auditActor(actor),
      event: "group.create",
      outcome: "ok",
      detail: name,
    });
    return group;
  });
  return group;
}

export async function deleteGroup(svc: Services, actor: Actor, id: number): Promise<void> {
  await requireSiteAdmin(svc, actor);
  const group = await getGroup(svc, id);
  if (!group) throw notFound(`No group with id ${id}`);
  await svc.db.deleteFrom("principals").where("id", "=", id).execute();
  await svc.invalidate.publish({ kind: "permissions" });
  svc.audit.record({
    ...auditActor(actor),
    event: "group.delete",
    outcome: "ok",
    detail: group.name,
  });
}

export async function setMembership(
  svc: Services,
  actor: Actor,
  input: { groupId: number; userId: number; member: boolean },
): Promise<void> {
  await requireSiteAdmin(svc, actor);
  const group = await getGroup(svc, input.groupId);
  if (!group) throw notFound(`No group with id ${input.groupId}`);
  const user = await svc.db.selectFrom("users").select(["id", "email"])
    .where("id", "=", input.userId).executeTakeFirst();
  if (!user) throw notFound(`No user with id ${input.userId}`);
  if (input.member) {
    await svc.db.insertInto("group_members").values({ group_id: group.id, user_id: user.id })
      .onConflict((oc) => oc.doNothing()).execute();
  } else {
    await svc.db.deleteFrom("group_members").where("group_id", "=", group.id)
      .where("user_id", "=", user.id).execute();
  }
  await svc.invalidate.publish({ kind: "permissions" });
  svc.audit.record({
    ...auditActor(actor),
    event: input.member ? "group.member.add" : "group.member.remove",
    outcome: "ok",
    detail: `${group.name}: ${user.email}`,
  });
}

export async function listGroups(svc: Services, actor: Actor): Promise<GroupView[]> {
  await requireSiteAdmin(svc, actor);
  const groups = await svc.db.selectFrom("groups").selectAll().orderBy(sql`lower(name)`).execute();
  const members = await svc.db.selectFrom("group_members as gm")
    .innerJoin("users as u", "u.id", "gm.user_id")
    .select(["gm.group_id", "u.id", "u.email", "u.display_name"]).orderBy("u.email").execute();
  return groups.map((g) => ({
    id: g.id,
    name: g.name,
    description: g.description,
    members: members.filter((m) => m.group_id === g.id).map((m) => ({
      id: m.id,
      email: m.email,
      displayName: m.display_name,
    })),
  }));
}
