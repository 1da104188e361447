import assert from "node:assert/strict";
import { statfsSync } from "node:fs";
import { sql } from "kysely";
import { bootstrapAdmin } from "../../../src/app/bootstrap.ts";
import { createList, type ListDefinition } from "../../../src/data/lists.ts";
import { insertRows } from "../../../src/data/rows.ts";
import type { Actor } from "../../../src/core/actor.ts";
import type { Database } from "../../../src/db/mod.ts";
import { createServices, type Services } from "../../../src/services.ts";
import { AuditLog } from "../../../src/audit/mod.ts";
import { createApp } from "../../../routes/mod.ts";
import {
  actorOf,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  testConfig,
  testDatabase,
} from "../../_support/backends.ts";
import { TestBrowser } from "../../_support/http.ts";

/** A small tmpfs of our own, or null where mounting is not permitted (not root, a container). */
async function smallDisk(
  megabytes: number,
): Promise<{ path: string; unmount(): Promise<void> } | null> {
  const path = await Deno.makeTempDir({ prefix: "labgate-small-disk-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${megabytes}m`, "tmpfs", path],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!mount.success) {
    await Deno.remove(path);
    return null;
  }
  return {
    path,
    async unmount() {
      await new Deno.Command("umount", { args: [path] }).output();
      await Deno.remove(path);
    },
  };
}

function freeBytes(path: string): number {
  const stats = statfsSync(path);
  return Number(stats.bavail) * Number(stats.bsize);
}

/** What each full-disk test starts from: a signed-in site admin and a list of one row. */
interface FullDiskFixture {
  database: Database;
  svc: Services;
  browser: TestBrowser;
  csrf: string;
  actor: Actor;
  /** `samples` in /home: `id` Integer key, `note` Text; row 1 says "before". */
  def: ListDefinition;
  /** Something else fills the disk until `megabytes` stay free (past the free-space lookup's cache). */
  fill(megabytes: number): Promise<void>;
  /** The space is freed again (past the cache). */
  free(): Promise<void>;
}

/**
 * A test of labgate on the embedded database with its data directory on a
 * tmpfs of `megabytes`; skipped where mounting one is not permitted.
 */
function fullDiskTest(
  name: string,
  megabytes: number,
  body: (fx: FullDiskFixture) => Promise<void>,
): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const disk = await smallDisk(megabytes);
      if (!disk) {
        console.log("SKIPPED: mounting a small tmpfs is not permitted here (run as root to test)");
        return;
      }
      try {
        const { database, dispose } = await testDatabase("pglite", {
          dataDir: `${disk.path}/data`,
        });
        const svc = createServices(testConfig(), database, {
          audit: new AuditLog(database, { flushMs: 10 }),
        });
        try {
          await bootstrapAdmin(svc, () => {});
          const browser = new TestBrowser(createApp(svc));
          assert.equal((await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).status, 303);
          const csrf = await browser.sessionCsrf();
          const actor = await actorOf(svc, ADMIN_EMAIL);
          const def = await createList(svc, actor, "/home", {
            name: "samples",
            key: "id",
            columns: [{ name: "id", type: "Integer" }, { name: "note", type: "Text" }],
          });
          await insertRows(svc, actor, def, [{ id: 1, note: "before" }]);
          const filler = `${disk.path}/filler`;
          const pastCache = () => new Promise((resolve) => setTimeout(resolve, 300));
          await body({
            database,
            svc,
            browser,
            csrf,
            actor,
            def,
            async fill(megabytes) {
              const bytes = freeBytes(disk.path) - megabytes * 1024 * 1024;
              await Deno.writeFile(filler, new Uint8Array(bytes));
              await pastCache();
            },
            async free() {
              await Deno.remove(filler);
              await pastCache();
            },
          });
        } finally {
          await svc.audit.flush().catch(() => {});
          await dispose();
        }
      } finally {
        await disk.unmount();
      }
    },
  });
}

fullDiskTest(
  "the embedded database refuses writes on a full disk with 53100 / 507 and keeps reading",
  96,
  async ({ svc, browser, csrf, actor, def, fill, free }) => {
    // 3 MB stay free (the test database's WAL segments are 1 MB).
    await fill(3);

    await assert.rejects(
      insertRows(svc, actor, def, [{ id: 2, note: "refused" }]),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "53100");
        assert.match(error.message, /No space left on the device holding the data directory/);
        return true;
      },
    );
    const response = await browser.json(
      "POST",
      `/api/lists/${def.list.id}/rows`,
      { rows: [{ id: 3, note: "refused too" }] },
      { "x-csrf-token": csrf },
    );
    assert.equal(response.status, 507, await response.clone().text());
    assert.match(await response.text(), /No space left on the device holding the data directory/);
    // Reads go on, and so does the audit log (it may use the last of the reserve).
    const page = await browser.get("/folders/home/-/lists/samples");
    assert.equal(page.status, 200);
    assert.match(await page.text(), /before/);
    await svc.audit.flush();
    assert.equal(svc.audit.failing, false);

    // Space freed: writes work again.
    await free();
    await insertRows(svc, actor, def, [{ id: 4, note: "after" }]);
  },
);

fullDiskTest(
  "the embedded database refuses one write bigger than the free space with 507 and stays usable",
  64,
  async ({ database, svc, browser, csrf, actor, def, fill, free }) => {
    // 10 MB stay free: above the reserve (4 WAL segments of 1 MB), so the write is let in.
    await fill(10);

    // One statement of 26 MB that makes its data itself: refused as its table grows into the
    // reserve (its file goes at the rollback).
    await assert.rejects(
      sql`create table lg_app.big as select i, repeat(md5(i::text), 40) as t
          from generate_series(1, 20000) i`.execute(database.root),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "53100", error.message);
        return true;
      },
    );

    // One write of 12 MB through the API (incompressible), its rows spilled to a temporary file
    // on the way (RETURNING), and as much again of WAL: it cannot fit either.
    const note = () =>
      Array.from(crypto.getRandomValues(new Uint8Array(750)), (b) => b.toString(16)).join("")
        .padEnd(1500, "0");
    const rows = Array.from({ length: 8000 }, (_, i) => ({ id: 100 + i, note: note() }));
    const response = await browser.json(
      "POST",
      `/api/lists/${def.list.id}/rows`,
      { rows },
      { "x-csrf-token": csrf },
    );
    assert.equal(response.status, 507, (await response.clone().text()).slice(0, 500));
    assert.match(await response.text(), /No space left on the device holding the data directory/);

    // Nothing of it was written; reads and the audit log go on.
    const page = await browser.get("/folders/home/-/lists/samples");
    assert.equal(page.status, 200);
    assert.match(await page.text(), /before/);
    const count = await browser.get(`/api/lists/${def.list.id}/rows`);
    assert.equal(count.status, 200);
    assert.equal(((await count.json()) as { rows: unknown[] }).rows.length, 1);
    await svc.audit.flush();
    assert.equal(svc.audit.failing, false);

    // Space freed: writes work again.
    await free();
    await insertRows(svc, actor, def, [{ id: 2, note: "after" }]);
  },
);
