/** Folder pages: the tree, one folder, subfolders, deletion and permissions. */
import { Hono } from "hono";
import {
  createContainer,
  deleteContainer,
  getPolicy,
  parentPath,
  requireContainer,
  setPolicy,
  visibleContainers,
} from "../../src/data/containers.ts";
import { listLists } from "../../src/data/lists.ts";
import { listPrincipals } from "../../src/data/users.ts";
import { Permission, permissionNames, ROLES } from "../../src/security/permissions.ts";
import { type AppContext, type Env, requireActor } from "../http/context.ts";
import { Breadcrumbs, folderUrl } from "../ui/layout.tsx";
import { Checkbox, Field, FieldRow, Labelled, PostForm, Submit, Table } from "../ui/forms.tsx";
import { listPage, listPost } from "./lists.tsx";
import { newListPage, newListPost } from "./new_list.tsx";
import { field, formError, page, redirectWith } from "../ui/render.tsx";
import { MAX_INDENT_DEPTH } from "../ui/style.ts";

/** `/folders/home/assays/-/lists/samples` → folder `/home/assays`, rest `["lists","samples"]`. */
function parseFolderUrl(path: string): { folder: string; rest: string[] } {
  const tail = path.replace(/^\/folders/, "");
  const at = tail.indexOf("/-/");
  const folder = at < 0 ? tail : tail.slice(0, at);
  const rest = at < 0 ? [] : tail.slice(at + 3).split("/").filter(Boolean);
  return { folder: folder.replace(/\/+$/, "") || "/", rest: rest.map(decodeURIComponent) };
}

export function folderPages(): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/folders", async (c) => {
    const actor = requireActor(c);
    const folders = await visibleContainers(c.get("svc"), actor);
    return page(c, {
      title: "Folders",
      children: (
        <>
          <h1>Folders</h1>
          {folders.length === 0 && <p class="muted">No folder is shared with you yet.</p>}
          <Table head={["Folder", "Your permissions"]}>
            {folders.map((f) => (
              <tr>
                <td class={indentClass(f.path)}>
                  <a href={folderUrl(f.path)}>{f.path === "/" ? "/ (root)" : f.name}</a>
                  {f.path !== "/" && <span class="muted">&nbsp;{f.path}</span>}
                </td>
                <td>{permissionNames(f.bits).join(", ")}</td>
              </tr>
            ))}
          </Table>
        </>
      ),
    });
  });

  app.get("/folders/*", (c) => {
    const { folder, rest } = parseFolderUrl(c.req.path);
    if (rest.length === 0) return folderPage(c, folder);
    if (rest[0] === "permissions" && rest.length === 1) return permissionsPage(c, folder);
    if (rest[0] === "new-list" && rest.length === 1) return newListPage(c, folder);
    if (rest[0] === "lists" && rest.length === 2) return listPage(c, folder, rest[1]);
    if (rest[0] === "lists" && rest.length === 3 && /^export\.(csv|tsv)$/.test(rest[2])) {
      return listPage(c, folder, rest[1], { export: rest[2].slice(7) as "csv" | "tsv" });
    }
    return c.notFound();
  });

  app.post("/folders/*", async (c) => {
    const { folder, rest } = parseFolderUrl(c.req.path);
    if (rest.length === 0) return await folderPost(c, folder);
    if (rest[0] === "permissions" && rest.length === 1) return await permissionsPost(c, folder);
    if (rest[0] === "new-list" && rest.length === 1) return await newListPost(c, folder);
    if (rest[0] === "lists" && rest.length === 2) return await listPost(c, folder, rest[1]);
    return c.notFound();
  });

  return app;
}

async function folderPage(c: AppContext, path: string, error?: ReturnType<typeof formError>) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  const { container, bits } = await requireContainer(svc, actor, { path });
  const { lists } = await listLists(svc, actor, container.path);
  const children = (await visibleContainers(svc, actor)).filter((f) =>
    f.parent_id === container.id
  );
  const admin = (bits & Permission.ADMIN) !== 0;
  return page(c, {
    title: container.path,
    error: error?.error,
    children: (
      <>
        <Breadcrumbs path={container.path} />
        <h1>{container.path === "/" ? "Root folder" : container.name}</h1>
        {container.description && <p>{container.description}</p>}
        <p class="muted">
          Your permissions here: {permissionNames(bits).join(", ") || "none"}
          {admin && (
            <>
              {" · "}
              <a href={folderUrl(container.path, "/-/permissions")}>Permissions</a>
            </>
          )}
        </p>
        <h2>Lists</h2>
        {lists.length === 0
          ? <p class="muted">No lists in this folder.</p>
          : (
            <Table head={["List", "Description", "Columns", "Key"]}>
              {lists.map((l) => (
                <tr>
                  <td>
                    <a href={folderUrl(container.path, `/-/lists/${l.name}`)}>{l.name}</a>
                  </td>
                  <td>{l.description}</td>
                  <td class="num">{l.columns}</td>
                  <td>{l.keyColumn}</td>
                </tr>
              ))}
            </Table>
          )}
        {admin && (
          <p>
            <a class="button" href={folderUrl(container.path, "/-/new-list")}>New list</a>
          </p>
        )}
        <h2>Subfolders</h2>
        {children.length === 0 ? <p class="muted">No subfolders you can read.</p> : (
          <ul>
            {children.map((f) => (
              <li>
                <a href={folderUrl(f.path)}>{f.name}</a>
              </li>
            ))}
          </ul>
        )}
        {admin && (
          <div class="card">
            <h2>New subfolder</h2>
            <PostForm actor={actor} do="create-folder">
              <FieldRow>
                <Field id="name" label="Name" required pattern="[A-Za-z0-9][A-Za-z0-9_.\-]*" />
                <Field id="description" label="Description" />
                {[
                  <Checkbox name="inherit" checked label="Inherit permissions" />,
                  <button type="submit">Create folder</button>,
                ]}
              </FieldRow>
            </PostForm>
          </div>
        )}
        {admin && container.path !== "/" && container.path !== "/home" && (
          <div class="card">
            <h2>Delete this folder</h2>
            <PostForm actor={actor} do="delete-folder">
              <Checkbox
                name="confirm"
                value="yes"
                required
                label={<>Delete {container.path}, its subfolders and all their lists and rows</>}
              />
              <button class="danger" type="submit">Delete folder</button>
            </PostForm>
          </div>
        )}
      </>
    ),
  }, error?.status ?? 200);
}

async function folderPost(c: AppContext, path: string) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  const body = await c.req.parseBody();
  try {
    switch (field(body, "_action")) {
      case "create-folder": {
        const created = await createContainer(svc, actor, {
          parentPath: path,
          name: field(body, "name"),
          description: field(body, "description"),
          inheritPolicy: field(body, "inherit") === "on",
        });
        return redirectWith(c, folderUrl(created.path), `Folder ${created.path} created`);
      }
      case "delete-folder": {
        await deleteContainer(svc, actor, path);
        return redirectWith(c, folderUrl(parentPath(path) ?? "/"), `Folder ${path} deleted`);
      }
      default:
        return c.text("Unknown action", 400);
    }
  } catch (error) {
    return folderPage(c, path, formError(error));
  }
}

async function permissionsPage(c: AppContext, path: string, error?: ReturnType<typeof formError>) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  const { container } = await requireContainer(svc, actor, { path }, Permission.ADMIN);
  const policy = await getPolicy(svc, container);
  const principals = await listPrincipals(svc);
  const roles = Object.entries(ROLES).filter(([, r]) => !r.site || container.parent_id === null);
  return page(c, {
    title: `Permissions · ${container.path}`,
    error: error?.error,
    children: (
      <>
        <Breadcrumbs path={container.path} tail="Permissions" />
        <h1>Permissions for {container.path}</h1>
        <PostForm actor={actor} do="save">
          {container.parent_id !== null && (
            <Checkbox
              name="inherit"
              checked={policy.inherit}
              label={
                <>
                  Inherit permissions from the parent folder
                  {policy.inherit && <span class="muted">&nbsp;(now: {policy.source.path})</span>}
                </>
              }
            />
          )}
          <h2>Role assignments{policy.inherit ? " (inherited, read-only)" : ""}</h2>
          <Table head={["User or group", "Role", ...policy.inherit ? [] : ["Remove"]]}>
            {policy.assignments.map((a) => (
              <tr>
                <td>{a.kind === "group" ? `Group: ${a.name}` : a.name}</td>
                <td>{ROLES[a.role as keyof typeof ROLES]?.label ?? a.role}</td>
                {!policy.inherit && (
                  <td>
                    <input type="hidden" name="keep" value={`${a.principalId}:${a.role}`} />
                    <Checkbox name="remove" value={`${a.principalId}:${a.role}`} label="remove" />
                  </td>
                )}
              </tr>
            ))}
          </Table>
          <h2>Add a role</h2>
          <FieldRow>
            <Labelled id="principal" label="User or group">
              <select id="principal" name="principal">
                <option value="">(none)</option>
                {principals.map((p) => <option value={String(p.id)}>{p.label}</option>)}
              </select>
            </Labelled>
            <Labelled id="role" label="Role">
              <select id="role" name="role">
                {roles.map(([name, r]) => <option value={name}>{r.label}</option>)}
              </select>
            </Labelled>
          </FieldRow>
          <Submit>Save permissions</Submit>
          <p class="muted">
            Unticking "Inherit" gives this folder its own policy, starting from the assignments
            above.
          </p>
        </PostForm>
      </>
    ),
  }, error?.status ?? 200);
}

async function permissionsPost(c: AppContext, path: string) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  const body = await c.req.parseBody({ all: true });
  const list = (name: string) => {
    const value = body[name];
    return (Array.isArray(value) ? value : value === undefined ? [] : [value])
      .filter((v): v is string => typeof v === "string");
  };
  try {
    const { container } = await requireContainer(svc, actor, { path }, Permission.ADMIN);
    const inherit = container.parent_id !== null && list("inherit").includes("on");
    const current = await getPolicy(svc, container);
    const removed = new Set(list("remove"));
    const assignments = current.assignments
      .filter((a) => !removed.has(`${a.principalId}:${a.role}`))
      .map((a) => ({ principalId: a.principalId, role: a.role }));
    const principal = list("principal")[0];
    if (principal) {
      assignments.push({ principalId: Number(principal), role: list("role")[0] ?? "" });
    }
    await setPolicy(svc, actor, container.path, { inherit, assignments });
    return redirectWith(c, folderUrl(container.path, "/-/permissions"), "Permissions saved");
  } catch (error) {
    return permissionsPage(c, path, formError(error));
  }
}

/** The indentation of a folder row by its depth (the stylesheet has a class per level). */
function indentClass(path: string): string | undefined {
  const depth = Math.min(path.split("/").length - 2, MAX_INDENT_DEPTH);
  return depth > 0 ? `depth-${depth}` : undefined;
}
