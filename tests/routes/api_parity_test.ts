/**
 * Everything a page can do, the JSON API can do: the admin's pages are
 * crawled, every form that changes something is collected (where it posts,
 * its `_action`), and each must have an API operation here that does the
 * same — or the test fails naming the form. A new page action without a
 * twin fails it until the API has one.
 */
import assert from "node:assert/strict";
import { createContainer } from "../../src/data/containers.ts";
import { createGroup } from "../../src/data/groups.ts";
import { createList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { createUser } from "../../src/data/users.ts";
import { addSite } from "../../src/doors/remote_login/mod.ts";
import { backendTest } from "../_support/backends.ts";
import { browserOf, enableKeys } from "../_support/keys.ts";

/** Page form (path pattern and `_action`) → the operations that do the same through the API. */
const TWINS: Record<string, string[]> = {
  "POST /logout": ["logout"],
  "POST /account/password": ["changeMyPassword"],
  "POST /account/keys": ["createKey"],
  "POST /account/keys/:id/revoke": ["revokeKey"],
  "POST /folders/:folder create-folder": ["createFolder"],
  "POST /folders/:folder delete-folder": ["deleteFolder"],
  "POST /folders/:folder/-/permissions save": ["setFolderPolicy"],
  "POST /folders/:folder/-/new-list": ["createList"],
  // Reading a file's columns is the page's help for a person; a script names them.
  "POST /folders/:folder/-/new-list infer": ["createList", "importRows"],
  "POST /folders/:folder/-/lists/:list insert": ["insertRows"],
  "POST /folders/:folder/-/lists/:list update": ["updateRows"],
  "POST /folders/:folder/-/lists/:list delete": ["deleteRows"],
  "POST /folders/:folder/-/lists/:list import": ["importRows"],
  "POST /folders/:folder/-/lists/:list delete-list": ["deleteList"],
  "POST /folders/:folder/-/lists/:list design-preview": ["changeListDesign"],
  "POST /folders/:folder/-/lists/:list design-apply": ["changeListDesign"],
  "POST /admin/users": ["createUser"],
  "POST /admin/users/:id": ["updateUser"],
  "POST /admin/users/:id reset-password": ["updateUser"],
  "POST /admin/groups create": ["createGroup"],
  "POST /admin/groups delete": ["deleteGroup"],
  "POST /admin/groups add": ["addGroupMember"],
  "POST /admin/groups remove": ["removeGroupMember"],
  "POST /admin/sql-door save": ["updateSettings"],
  "POST /admin/sql-door regenerate": ["regenerateCertificate"],
  "POST /admin/remote-sites add": ["addRemoteSite"],
  "POST /admin/remote-sites remove": ["removeRemoteSite"],
  "POST /admin/remote-sites settings": ["updateSettings"],
  "POST /admin/keys": ["updateSettings"],
  "POST /admin/keys/:id/revoke": ["revokeKey"],
  "POST /admin/keys/:id/limits": ["setKeyLimits"],
  "POST /admin/compliance": ["updateSettings"],
  "POST /admin/external-apps": ["createExternalApp"],
  "POST /admin/external-apps settings": ["updateSettings"],
  "POST /admin/external-apps/:app": ["updateExternalApp"],
  "POST /admin/external-apps/:app delete": ["deleteExternalApp"],
  "POST /admin/auth-tokens/new": ["createToken"],
  "POST /admin/auth-tokens/:token": ["updateToken"],
  "POST /admin/auth-tokens/:token approve": ["approveToken"],
};

/** A form's address as a pattern: folder paths, list names and ids are parameters. */
function pattern(path: string): string {
  return path
    .replace(/^\/folders\/.*?(\/-\/|$)/, (_, tail) => `/folders/:folder${tail}`)
    .replace(/\/-\/lists\/[^/]+/, "/-/lists/:list")
    .replace(/^\/(admin\/users|admin\/keys|account\/keys)\/[0-9a-f]+/, "/$1/:id")
    .replace(/^\/admin\/external-apps\/(?!new$)[^/]+/, "/admin/external-apps/:app")
    .replace(/^\/admin\/auth-tokens\/(?!new$)[^/]+/, "/admin/auth-tokens/:token");
}

backendTest("every page action has a JSON API twin in the OpenAPI document", async (t) => {
  await enableKeys(t);
  await createContainer(t.svc, t.admin, { parentPath: "/home", name: "assays" });
  const list = await createList(t.svc, t.admin, "/home/assays", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }],
  });
  await insertRows(t.svc, t.admin, list, [{ Name: "a" }]);
  await createUser(t.svc, t.admin, { email: "reader@example.org", password: "reader-pass-1" });
  await createGroup(t.svc, t.admin, { name: "lab" });
  await addSite(t.svc, t.admin, { name: "Example", prefixes: ["https://app.example"] });
  const { browser, makeKey } = await browserOf(t);
  await makeKey({ kind: "api_key", expiry: "1w" });

  const doc = await (await browser.get("/api/openapi.json")).json();
  const operations = new Set<string>();
  for (const item of Object.values(doc.paths) as Record<string, { operationId?: string }>[]) {
    for (const op of Object.values(item)) if (op.operationId) operations.add(op.operationId);
  }

  const forms = new Set<string>();
  const seen = new Set<string>();
  const queue = ["/folders", "/admin/site", "/account", "/account/external-tools"];
  while (queue.length && seen.size < 80) {
    const path = queue.shift()!;
    if (seen.has(path.split("?")[0])) continue;
    seen.add(path.split("?")[0]);
    const response = await browser.get(path);
    if (response.status !== 200 || !response.headers.get("content-type")?.includes("html")) {
      await response.body?.cancel();
      continue;
    }
    const html = await response.text();
    for (const form of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
      if (!/method="post"/i.test(form[1])) continue;
      const action = /action="([^"]*)"/.exec(form[1])?.[1] || path.split("?")[0];
      const kind = /name="_action" value="([^"]*)"/.exec(form[2])?.[1];
      forms.add(
        `POST ${pattern(new URL(action, "http://x" + path).pathname)}${kind ? ` ${kind}` : ""}`,
      );
    }
    for (const href of html.matchAll(/href="(\/[^"#]*)"/g)) {
      const next = href[1].replaceAll("&amp;", "&");
      if (!/\/logout|\/api\/|\.[a-z0-9]+(\?|$)/.test(next)) queue.push(next);
    }
  }
  const missing = [...forms].filter((f) => !TWINS[f]);
  assert.deepEqual(missing, [], "page actions without an API twin (add one, then list it here)");
  const unknown = Object.entries(TWINS).flatMap(([form, ids]) =>
    ids.filter((id) => !operations.has(id)).map((id) => `${form} → ${id}`)
  );
  assert.deepEqual(unknown, [], "twins that are not in the OpenAPI document");
  assert.ok(forms.size >= 25, `found ${forms.size} page actions: ${[...forms].join("; ")}`);
}, { only: ["pglite"] });
