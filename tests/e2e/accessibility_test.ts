/**
 * Every page labgate serves, crawled as a site admin in Chromium, has no
 * accessibility violation that axe-core finds (all impact levels).
 */
import assert from "node:assert/strict";
import { createContainer } from "../../src/data/containers.ts";
import { createGroup } from "../../src/data/groups.ts";
import { createList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { createUser } from "../../src/data/users.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, backendTest } from "../_support/backends.ts";
import { axeViolations, browserOn, hasChromium } from "../_support/browser.ts";
import { enableKeys } from "../_support/keys.ts";

/** Links not to follow: downloads (a file name with an extension), sign-out, the API. */
const SKIP = /\/logout|\/[^/?]+\.[a-z0-9]+(\?|$)|^\/api\//;

backendTest("every page has no axe-core violation", async (t) => {
  await enableKeys(t);
  await createContainer(t.svc, t.admin, { parentPath: "/home", name: "assays" });
  const list = await createList(t.svc, t.admin, "/home/assays", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }, { name: "Taken", type: "Date" }, {
      name: "Meta",
      type: "JSON",
    }],
  });
  await insertRows(t.svc, t.admin, list, [{ Name: "a", Taken: "2026-01-02", Meta: { x: 1 } }]);
  await createUser(t.svc, t.admin, { email: "reader@example.org", password: "reader-pass-1" });
  await createGroup(t.svc, t.admin, { name: "lab" });

  await using opened = await browserOn(t.svc);
  const { base, browser } = opened;
  // axe is injected as a script: let it past labgate's script-src 'self' for this test only.
  const context = await browser.newContext({
    bypassCSP: true,
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const found: string[] = [];
  const check = async (path: string) => {
    await page.goto(`${base}${path}`);
    for (const v of await axeViolations(page)) {
      found.push(
        `${path}: ${v.impact} ${v.id} (${v.help}) at ${
          v.nodes.map((n) => n.target.join(" ")).join(", ")
        }`,
      );
    }
  };
  await check("/login");
  await page.fill("#email", ADMIN_EMAIL);
  await page.fill("#password", ADMIN_PASSWORD);
  await page.click("button[type=submit]");
  const seen = new Set<string>();
  // Query variants (sort, page, column counts) of a page look alike: two of each are enough.
  const variants = new Map<string, number>();
  const queue = ["/folders", "/admin/site", "/account", "/account/external-tools"];
  while (queue.length && seen.size < 120) {
    const path = queue.shift()!;
    const pathname = path.split("?")[0];
    if (seen.has(path) || (variants.get(pathname) ?? 0) >= 2) continue;
    seen.add(path);
    variants.set(pathname, (variants.get(pathname) ?? 0) + 1);
    await check(path);
    const links = await page.$$eval("a[href]", (as) => as.map((a) => a.getAttribute("href")!));
    for (const href of links) {
      const url = new URL(href, `${base}${path}`);
      const next = url.pathname + url.search;
      if (url.origin === base && !SKIP.test(next) && !seen.has(next)) queue.push(next);
    }
  }
  assert.ok(
    variants.size >= 20,
    `crawled ${variants.size} pages: ${[...variants.keys()].join(" ")}`,
  );
  assert.deepEqual(found, []);
}, { only: ["pglite"], ignore: !hasChromium });
