/**
 * The key door's request matrix: every LabKey-compatible action, in both URL
 * styles, with every state a presented key can be in. Each cell asserts the
 * exact status and LabKey error body, and that a refusal changed nothing.
 */
import assert from "node:assert/strict";
import { createApp } from "../../../routes/mod.ts";
import { createContainer, setPolicy } from "../../../src/data/containers.ts";
import { createList, getList } from "../../../src/data/lists.ts";
import { insertRows, selectRows } from "../../../src/data/rows.ts";
import { createUser } from "../../../src/data/users.ts";
import { dropKeyCache, REFUSED } from "../../../src/doors/keys/mod.ts";
import { errorBody } from "../../../src/doors/labkey/responses.ts";
import { backendTest, type TestContext } from "../../_support/backends.ts";
import { basic, browserOf, enableKeys } from "../../_support/keys.ts";

const FOLDER = "/home/lab";
const LIST = "samples";
const READER = { email: "rita@example.org", password: "reader-password" };
const NO_PERMISSION = "You do not have permission to do that in /home/lab";

/** What an action needs on the folder: a reader key gets 403 for anything beyond read. */
type Needs = "none" | "read" | "insert" | "update" | "delete" | "admin";

interface ActionCase {
  /** `<controller>-<action>`, with `.api` unless `view`. */
  action: string;
  view?: boolean;
  needs: Needs;
  /** The parameters of one call: fresh names for calls that create something. */
  params: (t: TestContext, n: number) => Promise<Record<string, unknown>>;
  /** Query string (GET) or JSON body (POST). */
  method: "GET" | "POST";
}

const samples = { schemaName: "lists", queryName: LIST };

async function firstId(t: TestContext): Promise<number> {
  const def = await getList(t.svc, t.admin, FOLDER, LIST);
  return Number((await selectRows(t.svc, t.admin, def, { limit: 1 })).rows[0].Id);
}

const ACTIONS: ActionCase[] = [
  {
    action: "query-selectRows",
    needs: "read",
    method: "GET",
    params: () => Promise.resolve(samples),
  },
  {
    action: "query-getQuery",
    needs: "read",
    method: "GET",
    params: () => Promise.resolve(samples),
  },
  {
    action: "query-executeSql",
    needs: "read",
    method: "POST",
    params: () =>
      Promise.resolve({ schemaName: "lists", sql: `select count(*) as n from ${LIST}` }),
  },
  {
    action: "query-insertRows",
    needs: "insert",
    method: "POST",
    params: (_t, n) => Promise.resolve({ ...samples, rows: [{ Name: `inserted ${n}` }] }),
  },
  {
    action: "query-updateRows",
    needs: "update",
    method: "POST",
    params: async (t, n) => ({
      ...samples,
      rows: [{ Id: await firstId(t), Name: `updated ${n}` }],
    }),
  },
  {
    action: "query-deleteRows",
    needs: "delete",
    method: "POST",
    // Each call deletes a row of its own, so every successful call has one to delete.
    params: async (t, n) => {
      const def = await getList(t.svc, t.admin, FOLDER, LIST);
      const [row] = await insertRows(t.svc, t.admin, def, [{ Name: `doomed ${n}` }]);
      return { ...samples, rows: [{ Id: row.Id }] };
    },
  },
  {
    action: "query-getSchemas",
    needs: "read",
    method: "GET",
    params: () => Promise.resolve({ apiVersion: "9.3" }),
  },
  {
    action: "query-getQueries",
    needs: "read",
    method: "GET",
    params: () => Promise.resolve({ schemaName: "lists" }),
  },
  {
    action: "query-getQueryDetails",
    needs: "read",
    method: "GET",
    params: () => Promise.resolve(samples),
  },
  { action: "login-whoami", needs: "none", method: "GET", params: () => Promise.resolve({}) },
  {
    action: "project-getContainers",
    view: true,
    needs: "read",
    method: "GET",
    params: () => Promise.resolve({ includeSubfolders: "true" }),
  },
  {
    action: "core-createContainer",
    needs: "admin",
    method: "POST",
    params: (_t, n) => Promise.resolve({ name: `sub${n}` }),
  },
  {
    action: "property-createDomain",
    needs: "admin",
    method: "POST",
    params: (_t, n) =>
      Promise.resolve({
        kind: "IntList",
        domainDesign: { name: `list${n}`, fields: [{ name: "Label", rangeURI: "string" }] },
        options: { keyName: "Key" },
      }),
  },
  {
    action: "property-getDomain",
    needs: "read",
    method: "GET",
    params: () => Promise.resolve(samples),
  },
  {
    action: "user-getUsers",
    needs: "read",
    method: "GET",
    params: () => Promise.resolve({}),
  },
];

/** Both URL styles LabKey clients use for one action (`/login/…` is the remote-login door's). */
function urls(c: ActionCase): string[] {
  const [controller, action] = c.action.split("-");
  const ext = c.view ? "view" : "api";
  const newer = `${FOLDER}/${c.action}.${ext}`;
  return controller === "login" ? [newer] : [newer, `/${controller}${FOLDER}/${action}.${ext}`];
}

/** Everything a refused call must leave alone: the rows, the folders and the lists. */
async function snapshot(t: TestContext): Promise<string> {
  const def = await getList(t.svc, t.admin, FOLDER, LIST);
  const { rows } = await selectRows(t.svc, t.admin, def, { sort: [{ column: "Id" }] });
  const folders = await t.svc.db.selectFrom("containers").select("path").orderBy("path")
    .execute();
  const lists = await t.svc.db.selectFrom("lists").select("name").orderBy("name").execute();
  return JSON.stringify({ rows, folders, lists });
}

/** The states a presented key can be in, each with the answer every action gets. */
interface KeyState {
  name: string;
  headers: Record<string, string>;
  /** The refusal for every action, or null when the key is let in. */
  refused: string | null;
  /** A reader's key: let in, but only as far as reading goes. */
  readerOnly?: boolean;
}

async function keyStates(t: TestContext): Promise<KeyState[]> {
  await enableKeys(t);
  const reader = await createUser(t.svc, t.admin, { ...READER, displayName: "Rita" });
  await createContainer(t.svc, t.admin, { parentPath: "/home", name: "lab", inheritPolicy: false });
  await setPolicy(t.svc, t.admin, FOLDER, {
    inherit: false,
    assignments: [{ principalId: reader.id, role: "reader" }],
  });
  const def = await createList(t.svc, t.admin, FOLDER, {
    name: LIST,
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }],
  });
  await insertRows(t.svc, t.admin, def, [{ Name: "first" }, { Name: "second" }]);

  const admin = await browserOf(t);
  const api = await admin.makeKey({ kind: "api_key", expiry: "never" });
  const session = await admin.makeKey({ kind: "session_key" });
  const expired = await admin.makeKey({ kind: "api_key", expiry: "1w" });
  await t.svc.db.updateTable("keys").set({ expires_at: new Date(t.svc.now().getTime() - 1) })
    .where("id", "=", expired.id).execute();
  dropKeyCache(t.svc, expired.id);
  const revoked = await admin.makeKey({ kind: "api_key", expiry: "never" });
  const revoke = await admin.browser.json("DELETE", `/api/keys/${revoked.id}`, undefined, {
    "x-csrf-token": admin.csrf,
  });
  assert.equal(revoke.status, 200);
  const ended = await browserOf(t);
  const endedKey = await ended.makeKey({ kind: "session_key" });
  assert.equal((await ended.browser.postForm("/logout", { _csrf: ended.csrf })).status, 303);
  const readerKey = await (await browserOf(t, READER.email, READER.password))
    .makeKey({ kind: "api_key", expiry: "never" });

  return [
    { name: "valid API key", headers: basic(api.key), refused: null },
    { name: "valid session key", headers: { apikey: session.key }, refused: null },
    { name: "expired API key", headers: basic(expired.key), refused: REFUSED.expired },
    { name: "revoked API key", headers: basic(revoked.key), refused: REFUSED.revoked },
    { name: "ended session's key", headers: basic(endedKey.key), refused: REFUSED.sessionEnded },
    {
      name: "unknown key",
      headers: basic("lgk_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
      refused: REFUSED.unknown,
    },
    {
      name: "no key",
      headers: {},
      refused: "Sign in first: send an API key or a session cookie",
    },
    { name: "reader's API key", headers: basic(readerKey.key), refused: null, readerOnly: true },
  ];
}

/** The status and body a cell expects. */
function expected(
  c: ActionCase,
  state: KeyState,
): { status: number; body?: ReturnType<typeof errorBody> } {
  const anonymous = Object.keys(state.headers).length === 0;
  // whoami answers a caller without a key as a guest; a refused key is refused there too.
  if (state.refused && !(c.needs === "none" && anonymous)) {
    return { status: 401, body: errorBody(401, state.refused) };
  }
  if (state.readerOnly && c.needs !== "read" && c.needs !== "none") {
    return { status: 403, body: errorBody(403, NO_PERMISSION) };
  }
  return { status: 200 };
}

backendTest(
  "labkeyApp() answers every action × URL style × key state with the exact status and body",
  async (t) => {
    const states = await keyStates(t);
    const app = createApp(t.svc);
    let n = 0;
    for (const c of ACTIONS) {
      for (const url of urls(c)) {
        for (const state of states) {
          const label = `${c.action} ${url} with ${state.name}`;
          const params = await c.params(t, ++n);
          const query = c.method === "GET"
            ? "?" + new URLSearchParams(params as Record<string, string>)
            : "";
          const before = await snapshot(t);
          const response = await app.request(url + query, {
            method: c.method,
            headers: {
              ...state.headers,
              ...(c.method === "POST" ? { "content-type": "application/json" } : {}),
            },
            body: c.method === "POST" ? JSON.stringify(params) : undefined,
          }, { clientAddr: "127.0.0.1" });
          const body = await response.json();
          const want = expected(c, state);
          assert.equal(response.status, want.status, `${label}: ${JSON.stringify(body)}`);
          if (want.body) {
            assert.deepEqual(body, want.body, label);
            assert.equal(await snapshot(t), before, `${label} changed nothing`);
          } else {
            assert.notEqual(body.success, false, label);
          }
          if (c.action === "login-whoami" && response.status === 200) {
            const who = state.refused ? "guest" : state.readerOnly ? READER.email : "admin@";
            assert.ok(String(body.email).startsWith(who), `${label}: ${body.email}`);
          }
        }
      }
    }
    // Every key use is audited, refusals included, and never with the secret.
    await t.svc.audit.flush();
    const uses = await t.svc.db.selectFrom("audit_log").selectAll().where("event", "=", "key.use")
      .execute();
    const denied = new Set(uses.filter((u) => u.outcome === "denied").map((u) => u.message));
    for (const state of states) {
      if (state.refused && state.headers.authorization) {
        assert.ok(denied.has(state.refused), `refusal "${state.refused}" is audited`);
      }
    }
  },
);
