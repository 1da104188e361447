/** Folders and people: whoami, getContainers, createContainer, getUsers. */
import { createContainer, requireContainer, visibleContainers } from "../../src/data/containers.ts";
import { readersOf } from "../../src/data/users.ts";
import type { Container } from "../../src/db/schema.ts";
import { badRequest } from "../../src/errors.ts";
import { permissionNames } from "../../src/security/permissions.ts";
import { type Action, requirePost, requireSignedIn } from "./call.ts";

const PERMISSION_CLASSES: Record<string, string> = {
  READ: "org.labkey.api.security.permissions.ReadPermission",
  INSERT: "org.labkey.api.security.permissions.InsertPermission",
  UPDATE: "org.labkey.api.security.permissions.UpdatePermission",
  DELETE: "org.labkey.api.security.permissions.DeletePermission",
  ADMIN: "org.labkey.api.security.permissions.AdminPermission",
};

function folderJson(container: Container, bits: number, children?: unknown[]) {
  const depth = container.path === "/" ? 0 : container.path.split("/").length - 1;
  return {
    id: String(container.id),
    name: container.name,
    title: container.name,
    path: container.path,
    parentPath: container.path === "/"
      ? null
      : container.path.slice(0, container.path.lastIndexOf("/")) || "/",
    parentId: container.parent_id === null ? null : String(container.parent_id),
    description: container.description,
    type: depth === 1 ? "project" : "folder",
    isProject: depth === 1,
    isWorkbook: false,
    isContainerTab: false,
    sortOrder: 0,
    userPermissions: bits,
    effectivePermissions: permissionNames(bits).map((n) => PERMISSION_CLASSES[n]),
    ...(children ? { children } : {}),
  };
}

export const folderActions: Record<string, Action> = {
  "login-whoami": ({ actor }) =>
    Promise.resolve({
      body: actor
        ? {
          id: actor.userId,
          displayName: actor.displayName,
          email: actor.email,
          CSRF: actor.session?.csrfToken ?? "",
          impersonated: actor.impersonatorId !== null,
          success: true,
        }
        : {
          id: 0,
          displayName: "guest",
          email: "guest",
          CSRF: "",
          impersonated: false,
          success: true,
        },
    }),

  "project-getContainers": async (call) => {
    const actor = requireSignedIn(call);
    const { container, bits } = await requireContainer(call.svc, actor, {
      path: call.containerPath,
    });
    const withChildren = call.params.string("includeSubfolders") === "true";
    const depth = call.params.number("depth") ?? Infinity;
    const visible = withChildren ? await visibleContainers(call.svc, actor) : [];
    const tree = (parent: Container, parentBits: number, level: number): unknown =>
      folderJson(
        parent,
        parentBits,
        level < depth
          ? visible.filter((v) => v.parent_id === parent.id).map((v) => tree(v, v.bits, level + 1))
          : [],
      );
    return { body: tree(container, bits, 0) };
  },

  "core-createContainer": async (call) => {
    requirePost(call);
    const actor = requireSignedIn(call);
    const name = call.params.string("name");
    if (!name) throw badRequest("Missing parameter name");
    const created = await createContainer(call.svc, actor, {
      parentPath: call.containerPath,
      name,
      description: call.params.string("description"),
    });
    const bits = await call.svc.permissions.resolve(actor.userId, created.id);
    return { body: folderJson(created, bits), detail: created.path, containerPath: created.path };
  },

  "user-getUsers": async (call) => {
    const actor = requireSignedIn(call);
    const { container } = await requireContainer(call.svc, actor, { path: call.containerPath });
    const listed = (await readersOf(call.svc, container.id, call.params.string("name") ?? ""))
      .map((user) => ({ userId: user.id, displayName: user.display_name, email: user.email }));
    return { body: { container: container.path, users: listed }, rows: listed.length };
  },
};
