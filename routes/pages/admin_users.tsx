/** Site admin pages for users (named and external-app) and groups. */
import { Hono } from "hono";
import { createGroup, deleteGroup, listGroups, setMembership } from "../../src/data/groups.ts";
import {
  checkStatementTimeout,
  countSeats,
  countUsers,
  createUser,
  effectivePermissions,
  getUser,
  listUsers,
  updateUser,
  type UserSort,
  type UserView,
  userView,
} from "../../src/data/users.ts";
import type { UserType } from "../../src/db/schema.ts";
import { notFound } from "../../src/errors.ts";
import { listAppIds } from "../../src/doors/tokens/apps.ts";
import { adminOnly, type AppContext, type Env } from "../http/context.ts";
import { issueOneTimePassword } from "../../src/auth/one_time_password.ts";
import { folderUrl } from "../ui/layout.tsx";
import { Checkbox, Field, FieldRow, Labelled, PostForm, Submit, Table } from "../ui/forms.tsx";
import { canonicalGridUrl, ColumnChooser, gridLink, gridState } from "./list_grid.tsx";
import { field, formError, page, redirectWith } from "../ui/render.tsx";

/** /admin/users and /admin/groups. */
export function registerUserPages(app: Hono<Env>): void {
  app.get("/admin/users", (c) => usersPage(c));
  app.post("/admin/users", async (c) => {
    const actor = await adminOnly(c);
    const body = await c.req.parseBody();
    try {
      const type = field(body, "user_type") as UserType;
      const user = await createUser(c.get("svc"), actor, {
        email: field(body, "email"),
        displayName: field(body, "display_name"),
        department: field(body, "department"),
        userType: type,
        externalAppId: type === "app" ? field(body, "external_app_id") : null,
        password: field(body, "password") || undefined,
      });
      return redirectWith(c, "/admin/users", `User ${user.email} created`);
    } catch (error) {
      return usersPage(c, formError(error));
    }
  });

  app.get("/admin/users/:id", (c) => userPage(c, Number(c.req.param("id"))));
  app.post("/admin/users/:id", async (c) => {
    const actor = await adminOnly(c);
    const id = Number(c.req.param("id"));
    const body = await c.req.parseBody();
    try {
      if (field(body, "_action") === "reset-password") {
        const issued = await issueOneTimePassword(c.get("svc"), actor, id);
        c.header("cache-control", "no-store");
        return await userPage(c, id, undefined, issued.password);
      }
      const type = field(body, "user_type") as UserType;
      const user = await updateUser(c.get("svc"), actor, id, {
        email: field(body, "email"),
        displayName: field(body, "display_name"),
        department: field(body, "department"),
        userType: type,
        externalAppId: type === "app" ? field(body, "external_app_id") : null,
        active: field(body, "active") === "on",
        password: field(body, "password") || undefined,
        // A form without the field (an older page) leaves the limit as it is.
        statementTimeoutSeconds: "statement_timeout" in body
          ? checkStatementTimeout(field(body, "statement_timeout"))
          : undefined,
      });
      return redirectWith(c, `/admin/users/${id}`, `User ${user.email} saved`);
    } catch (error) {
      return userPage(c, id, formError(error));
    }
  });

  app.get("/admin/groups", (c) => groupsPage(c));
  app.post("/admin/groups", async (c) => {
    const actor = await adminOnly(c);
    const svc = c.get("svc");
    const body = await c.req.parseBody();
    try {
      switch (field(body, "_action")) {
        case "create": {
          const group = await createGroup(svc, actor, {
            name: field(body, "name"),
            description: field(body, "description"),
          });
          return redirectWith(c, "/admin/groups", `Group ${group.name} created`);
        }
        case "delete":
          await deleteGroup(svc, actor, Number(field(body, "group")));
          return redirectWith(c, "/admin/groups", "Group deleted");
        case "add":
        case "remove":
          await setMembership(svc, actor, {
            groupId: Number(field(body, "group")),
            userId: Number(field(body, "user")),
            member: field(body, "_action") === "add",
          });
          return redirectWith(c, "/admin/groups", "Membership saved");
        default:
          return c.text("Unknown action", 400);
      }
    } catch (error) {
      return groupsPage(c, formError(error));
    }
  });
}

function UserFields(props: { user?: ReturnType<typeof userView>; apps: string[] }) {
  const u = props.user;
  return (
    <FieldRow>
      <Field id="email" label="Email" type="email" required value={u?.email ?? ""} />
      <Field id="display_name" label="Display name" value={u?.displayName ?? ""} />
      <Field id="department" label="Department" value={u?.department ?? ""} />
      <Labelled id="user_type" label="User type">
        <select id="user_type" name="user_type">
          <option value="normal" selected={u?.userType !== "app"}>Named user</option>
          <option value="app" selected={u?.userType === "app"}>External app user</option>
        </select>
      </Labelled>
      <Labelled id="external_app_id" label="External app (external app users only)">
        <select id="external_app_id" name="external_app_id">
          <option value="">none</option>
          {props.apps.map((a) => <option value={a} selected={u?.externalAppId === a}>{a}</option>)}
        </select>
      </Labelled>
      <Field
        id="password"
        label={u ? "New password (leave empty to keep)" : "Password (optional)"}
        type="password"
        autocomplete="new-password"
      />
      {u && (
        <Field
          id="statement_timeout"
          label="Statement time limit in seconds (empty for the site's)"
          type="number"
          min="1"
          max="86400"
          value={u.statementTimeoutSeconds ?? ""}
        />
      )}
    </FieldRow>
  );
}

/** Users per page of the users grid. */
const USERS_PAGE = 50;

/** The users grid's columns: heading, what it sorts by, the cell. */
const USER_COLUMNS: [string, UserSort, (u: UserView) => string][] = [
  ["Email", "email", (u) => u.email],
  ["Name", "display_name", (u) => u.displayName],
  ["Department", "department", (u) => u.department],
  ["Active", "active", (u) => (u.active ? "yes" : "no")],
  [
    "Last sign-in",
    "last_login_at",
    (u) => u.lastLoginAt?.toISOString().slice(0, 16).replace("T", " ") ?? "",
  ],
];

async function usersPage(c: AppContext, error?: ReturnType<typeof formError>) {
  const actor = await adminOnly(c);
  const svc = c.get("svc");
  const url = new URL(c.req.url);
  const canonical = canonicalGridUrl(url, USER_COLUMNS.map(([name]) => name));
  if (canonical) return c.redirect(canonical, 303);
  const state = gridState(url);
  const search = c.req.query("q") ?? "";
  if (search) state.params.set("q", search);
  const pageNumber = state.page;
  const sorted = USER_COLUMNS.find(([name]) => name === state.query.sort[0]?.column);
  const sort = sorted && { column: sorted[1], descending: state.query.sort[0].descending };
  const found = await countUsers(svc, actor, { userType: "normal", search });
  const named = await listUsers(svc, actor, {
    userType: "normal",
    search,
    sort,
    limit: USERS_PAGE,
    offset: (pageNumber - 1) * USERS_PAGE,
  });
  const apps = await listUsers(svc, actor, { userType: "app", search, sort });
  const pages = Math.max(1, Math.ceil(found / USERS_PAGE));
  const pageLink = (n: number) => gridLink(state, { page: String(n) });
  const shown = USER_COLUMNS.filter(([name]) =>
    !state.query.columns || state.query.columns.includes(name)
  );
  const sortLink = (name: string) =>
    gridLink(state, {
      sort: name,
      desc: sorted?.[0] === name && !state.query.sort[0].descending ? "1" : null,
    });
  const table = (list: typeof named, app: boolean) => (
    <Table
      head={[
        ...shown.map(([name]) => <a href={sortLink(name)}>{name}</a>),
        ...app ? ["External app"] : [],
      ]}
    >
      {list.map((u) => (
        <tr>
          {shown.map(([name, , cell]) =>
            name === "Email"
              ? (
                <td>
                  <a href={`/admin/users/${u.id}`}>{u.email}</a>
                </td>
              )
              : <td>{cell(u)}</td>
          )}
          {app && <td>{u.externalAppId}</td>}
        </tr>
      ))}
    </Table>
  );
  const searchForm = (
    <form method="get" role="search">
      <FieldRow>
        <Field id="q" label="Find users (email, name or department)" type="search" value={search} />
        <button type="submit">Search</button>
      </FieldRow>
    </form>
  );
  const pager = (
    <div class="pager">
      {pageNumber > 1 && <a href={pageLink(pageNumber - 1)}>← Previous</a>}
      <span>
        Page {pageNumber} of {pages} · {found} named user{found === 1 ? "" : "s"}
        {search ? ` matching "${search}"` : ""}
      </span>
      {pageNumber < pages && <a href={pageLink(pageNumber + 1)}>Next →</a>}
    </div>
  );
  return page(c, {
    title: "Users",
    error: error?.error,
    children: (
      <>
        <h1>Users</h1>
        {searchForm}
        <ColumnChooser
          names={USER_COLUMNS.map(([name]) => name)}
          shown={state.query.columns}
          params={state.params}
        />
        <h2>Named users ({await countSeats(svc)} active seats)</h2>
        {table(named, false)}
        {pager}
        <h2>External app users (no seat)</h2>
        {apps.length ? table(apps, true) : <p class="muted">None.</p>}
        <div class="card">
          <h2>Add a user</h2>
          <PostForm actor={actor} to="/admin/users">
            <UserFields apps={await listAppIds(c.get("svc"))} />
            <Submit>Add user</Submit>
          </PostForm>
        </div>
      </>
    ),
  }, error?.status ?? 200);
}

async function userPage(
  c: AppContext,
  id: number,
  error?: ReturnType<typeof formError>,
  oneTimePassword?: string,
) {
  const actor = await adminOnly(c);
  const svc = c.get("svc");
  const user = await getUser(svc, id);
  if (!user) throw notFound(`No user with id ${id}`);
  const view = userView(user);
  const effective = await effectivePermissions(svc, actor, id);
  return page(c, {
    title: user.email,
    error: error?.error,
    children: (
      <>
        <div class="crumbs">
          <a href="/admin/users">Users</a> / {user.email}
        </div>
        <h1>{user.display_name}</h1>
        {oneTimePassword && (
          <div class="card" id="one-time-password">
            <h2>One-time password for {user.email}</h2>
            <p>
              Give it to them now: it is not shown again. They must choose a new password when they
              sign in; their sessions have ended.
            </p>
            <p>
              <code>{oneTimePassword}</code>
            </p>
          </div>
        )}
        <PostForm actor={actor}>
          <UserFields user={view} apps={await listAppIds(c.get("svc"))} />
          <Checkbox name="active" checked={user.active} label="Active" />
          <Submit>Save</Submit>
        </PostForm>
        {user.user_type === "normal" && (
          <PostForm actor={actor} do="reset-password" class="card">
            <h2>Reset password</h2>
            <p class="muted">
              Issues a one-time password, shown once here; the user's sessions and session keys end.
            </p>
            <button type="submit" class="secondary">Reset password</button>
          </PostForm>
        )}
        <h2>Effective permissions</h2>
        {effective.length
          ? (
            <Table id="effective-permissions" head={["Folder", "Permissions", "Granted by"]}>
              {effective.map((e) => (
                <tr>
                  <td>
                    <a href={folderUrl(e.path)}>{e.path}</a>
                  </td>
                  <td>{e.permissions.join(", ")}</td>
                  <td>
                    {e.grants.map((g) =>
                      `${g.role} for ${g.holder}${
                        g.policyPath === e.path ? "" : ` (policy of ${g.policyPath})`
                      }`
                    ).join("; ")}
                  </td>
                </tr>
              ))}
            </Table>
          )
          : <p class="muted">No permissions on any folder.</p>}
      </>
    ),
  }, error?.status ?? 200);
}

async function groupsPage(c: AppContext, error?: ReturnType<typeof formError>) {
  const actor = await adminOnly(c);
  const svc = c.get("svc");
  const groups = await listGroups(svc, actor);
  const users = await listUsers(svc, actor);
  return page(c, {
    title: "Groups",
    error: error?.error,
    children: (
      <>
        <h1>Groups</h1>
        {groups.map((g) => (
          <div class="card">
            <h2>{g.name}</h2>
            {g.description && <p>{g.description}</p>}
            <ul>
              {g.members.map((m) => (
                <li>
                  {m.displayName} &lt;{m.email}&gt;{" "}
                  <PostForm actor={actor} do="remove" class="inline">
                    <input type="hidden" name="group" value={String(g.id)} />
                    <input type="hidden" name="user" value={String(m.id)} />
                    <button class="secondary" type="submit">Remove</button>
                  </PostForm>
                </li>
              ))}
            </ul>
            <PostForm actor={actor} do="add">
              <input type="hidden" name="group" value={String(g.id)} />
              <FieldRow>
                <select name="user" aria-label={`Add member to ${g.name}`}>
                  {users.map((u) => <option value={String(u.id)}>{u.email}</option>)}
                </select>
                <button type="submit">Add member</button>
              </FieldRow>
            </PostForm>
            <PostForm actor={actor} do="delete">
              <input type="hidden" name="group" value={String(g.id)} />
              <Submit kind="danger">Delete group</Submit>
            </PostForm>
          </div>
        ))}
        <div class="card">
          <h2>New group</h2>
          <PostForm actor={actor} do="create">
            <FieldRow>
              <Field id="name" label="Name" required />
              <Field id="description" label="Description" />
              <button type="submit">Create group</button>
            </FieldRow>
          </PostForm>
        </div>
      </>
    ),
  }, error?.status ?? 200);
}
