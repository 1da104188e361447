/** A small world for token tests: an app, its user, named users, a folder with a list. */
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { createList, getList } from "../../src/data/lists.ts";
import { insertRows, selectRows } from "../../src/data/rows.ts";
import { createUser } from "../../src/data/users.ts";
import type { ExternalApp, User } from "../../src/db/schema.ts";
import { createExternalApp, createToken, type TokenInput } from "../../src/doors/tokens/mod.ts";
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
