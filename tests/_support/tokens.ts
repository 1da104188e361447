/** A small world for token tests: an app, its user, named users, a folder with a list. */
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { createList, getList } from "../../src/data/lists.ts";
import { insertRows, selectRows } from "../../src/data/rows.ts";
import { createUser } from "../../src/data/users.ts";
import type { ExternalApp, User } from "../../src/db/schema.ts";
import { createExternalApp, createToken, type TokenInput } from "../../src/doors/tokens/mod.ts";
import type { Hono } from "hono";
import type { Env } from "../../routes/http/context.ts";
import type { TestContext } from "./backends.ts";

export const FOLDER = "/home/lab";
export const LIST = "samples";
export const APP_ID = "lab-app";
export const APP_USER = "collector@apps.example.org";
export const APP_PASSWORD = "collector-password";
/** Editor on the folder, department Chemistry. */
export const ANA = "ana@example.org";
/** Reader on the folder, department Physics, Reader role. */
export const RITA = "rita@example.org";
/** No role anywhere. */
export const NOBODY = "nobody@example.org";

export interface TokenWorld {
  app: ExternalApp;
  appUser: User;
  ana: User;
  rita: User;
  nobody: User;
  /** Adds a token for the app user (active, future expiry unless told). */
  token(input?: TokenInput): Promise<{ id: string; value: string }>;
  /** How many rows the list holds now. */
  rowCount(): Promise<number>;
}

export async function tokenWorld(t: TestContext): Promise<TokenWorld> {
  const { svc, admin } = t;
  const app = await createExternalApp(svc, admin, {
    id: APP_ID,
    description: "Test app",
    entryPoints: ["rest", "action"],
    defaultExpiryDays: 30,
  });
  const appUser = await createUser(svc, admin, {
    email: APP_USER,
    userType: "app",
    externalAppId: APP_ID,
    password: APP_PASSWORD,
  });
  const ana = await createUser(svc, admin, { email: ANA, department: "Chemistry" });
  const rita = await createUser(svc, admin, { email: RITA, department: "Physics" });
  const nobody = await createUser(svc, admin, { email: NOBODY, department: "Chemistry" });
  await createContainer(svc, admin, { parentPath: "/home", name: "lab", inheritPolicy: false });
  await setPolicy(svc, admin, FOLDER, {
    inherit: false,
    assignments: [
      { principalId: appUser.id, role: "author" },
      { principalId: ana.id, role: "editor" },
      { principalId: rita.id, role: "reader" },
    ],
  });
  const def = await createList(svc, admin, FOLDER, {
    name: LIST,
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }],
  });
  await insertRows(svc, admin, def, [{ Name: "first" }]);
  return {
    app,
    appUser,
    ana,
    rita,
    nobody,
    async token(input = {}) {
      const { token, value } = await createToken(svc, admin, {
        appId: APP_ID,
        appUserId: appUser.id,
        ...input,
      });
      return { id: token.id, value };
    },
    async rowCount() {
      const { total } = await selectRows(svc, admin, await getList(svc, admin, FOLDER, LIST));
      return total;
    },
  };
}

/** How a request carries its token (`param-*`: in the URL, with the policy on or off). */
export type Presentation = "header" | "cookie" | "param-on" | "param-off";
/** The HTTP entry points: the JSON API (REST) or a LabKey-style action. */
export type Entry = "rest" | "action";

/** Calls the app with a token presented one way, on one entry point. */
export function caller(app: Hono<Env>) {
  return async (
    value: string,
    options: {
      presentation?: Presentation;
      entry?: Entry;
      action?: string;
      body?: unknown;
      processAs?: string;
      method?: string;
      path?: string;
    } = {},
  ): Promise<Response> => {
    const presentation = options.presentation ?? "header";
    const headers = new Headers({ "content-type": "application/json" });
    if (presentation === "header") headers.set("authorization", `Token ${value}`);
    if (presentation === "cookie") headers.set("cookie", `token=${value}`);
    if (options.processAs) headers.set("x-process-as", options.processAs);
    let path = options.path ??
      ((options.entry ?? "rest") === "rest"
        ? "/api/folders"
        : `/actions/${options.action ?? "selectRows"}`);
    if (presentation.startsWith("param")) path += `?token=${encodeURIComponent(value)}`;
    const action = path.startsWith("/actions/");
    const response = await app.request(path, {
      method: options.method ?? (action ? "POST" : "GET"),
      headers,
      body: action || options.body
        ? JSON.stringify(options.body ?? { folder: FOLDER, list: LIST })
        : undefined,
    }, { clientAddr: "127.0.0.1" });
    await response.body?.cancel();
    return response;
  };
}
