/**
 * `deno task backup` and `deno task restore`, run as an operator would, on
 * both backends: what was there before is there after, keys still work.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { createSession } from "../../../src/data/sessions.ts";
import { bootstrapAdmin } from "../../../src/app/bootstrap.ts";
import { loadConfig } from "../../../src/config.ts";
import { createContainer } from "../../../src/data/containers.ts";
import { createList, getList } from "../../../src/data/lists.ts";
import { insertRows, selectRows } from "../../../src/data/rows.ts";
import { createUser, getUserByEmail } from "../../../src/data/users.ts";
import { type Database, openDatabase } from "../../../src/db/mod.ts";
import { createApiKey, verifyKey } from "../../../src/doors/keys/mod.ts";
import { keySettings } from "../../../src/doors/keys/settings.ts";
import { createServices, type Services } from "../../../src/services.ts";
import { createApp } from "../../../routes/mod.ts";
import {
  actorOf,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  POSTGRES_URL,
  testDatabase,
} from "../../_support/backends.ts";
import { TestBrowser } from "../../_support/http.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

function services(database: Database): Services {
  return createServices(
    loadConfig({ LABGATE_ADMIN_EMAIL: ADMIN_EMAIL, LABGATE_ADMIN_PASSWORD: ADMIN_PASSWORD }),
    database,
  );
}

/** Folders, a user, a list with rows, an API key and audit entries; returns the key. */
async function populate(database: Database): Promise<string> {
  const svc = services(database);
  await bootstrapAdmin(svc, () => {});
  const admin = await actorOf(svc, ADMIN_EMAIL);
  await createContainer(svc, admin, { parentPath: "/home", name: "plates" });
  await createUser(svc, admin, { email: "reader@example.org", password: "reader-pass-77" });
  const def = await createList(svc, admin, "/home/plates", {
    name: "wells",
    key: "Well",
    columns: [{ name: "Well", type: "Text" }, { name: "Signal", type: "Decimal" }],
  });
  await insertRows(svc, admin, def, [{ Well: "A1", Signal: "1.25" }, { Well: "B2", Signal: "7" }]);
  await svc.settings.set(keySettings, {
    apiKeys: true,
    apiKeyExpiries: ["never"],
    sessionKeys: true,
  });
  const { session } = await createSession(svc, { userId: admin.userId });
  const { key } = await createApiKey(svc, {
    ...admin,
    session: { id: session.id, csrfToken: session.csrf_token },
  }, { expiry: "never" });
  await svc.audit.flush();
  return key;
}

async function verify(database: Database, key: string): Promise<void> {
  const svc = services(database);
  const admin = await actorOf(svc, ADMIN_EMAIL);
  assert.ok(await getUserByEmail(svc, "reader@example.org"));
  const def = await getList(svc, admin, "/home/plates", "wells");
  const { rows } = await selectRows(svc, admin, def, {});
  assert.deepEqual(rows.map((r) => [r.Well, Number(r.Signal)]), [["A1", 1.25], ["B2", 7]]);
  const actor = await verifyKey(svc, key, { door: "api", clientAddr: "127.0.0.1" });
  assert.equal(actor.email, ADMIN_EMAIL, "the key still works");
  const events = await svc.db.selectFrom("audit_log").select("event").execute();
  assert.ok(events.some((e) => e.event === "list.create"), "the audit log came along");
}

async function task(name: "backup" | "restore", file: string, env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", name, file],
    cwd: ROOT,
    env: { ...env, DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return { ok: output.success, text };
}

Deno.test({
  name: "deno task backup and restore carry an embedded database over, keys included",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "labgate-backup-" });
    try {
      // From the run's migrated snapshot (tests/_support/backends.ts), not initdb and every
      // migration: the same database, a minute less under load.
      await Deno.mkdir(`${dir}/data`);
      const { database: source } = await testDatabase("pglite", { dataDir: `${dir}/data` });
      let key: string;
      try {
        key = await populate(source);
        const running = await task("backup", `${dir}/busy.tgz`, {
          LABGATE_DATA_DIR: `${dir}/data`,
        });
        assert.equal(running.ok, false, "the data dir is in use");
        // While labgate runs, a site admin downloads the same archive.
        const browser = new TestBrowser(createApp(services(source)));
        assert.equal((await browser.get("/admin/backup.tgz")).status, 303, "signed-in only");
        await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
        const download = await browser.get("/admin/backup.tgz");
        assert.equal(download.status, 200);
        assert.equal(download.headers.get("content-type"), "application/gzip");
        await Deno.writeFile(`${dir}/online.tgz`, new Uint8Array(await download.arrayBuffer()));
      } finally {
        await source.close();
      }
      const backup = await task("backup", `${dir}/backup.tgz`, { LABGATE_DATA_DIR: `${dir}/data` });
      assert.ok(backup.ok, backup.text);
      const restore = await task("restore", `${dir}/backup.tgz`, {
        LABGATE_DATA_DIR: `${dir}/restored`,
      });
      assert.ok(restore.ok, restore.text);
      const again = await task("restore", `${dir}/backup.tgz`, {
        LABGATE_DATA_DIR: `${dir}/restored`,
      });
      assert.equal(again.ok, false);
      assert.match(again.text, /is not empty: restore into a new data dir/);
      const online = await task("restore", `${dir}/online.tgz`, {
        LABGATE_DATA_DIR: `${dir}/restored-online`,
      });
      assert.ok(online.ok, online.text);
      for (const dataDir of [`${dir}/restored`, `${dir}/restored-online`]) {
        const restored = await openDatabase({ dataDir });
        try {
          await verify(restored, key);
        } finally {
          await restored.close();
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deno task backup and restore carry a PostgreSQL database over, keys included",
  ignore: !POSTGRES_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    const names = [`lgb_src_${suffix}`, `lgb_dst_${suffix}`];
    const urls = names.map((name) => {
      const url = new URL(POSTGRES_URL!);
      url.pathname = `/${name}`;
      return url.toString();
    });
    const dir = await Deno.makeTempDir({ prefix: "labgate-backup-" });
    let installId = "";
    try {
      for (const name of names) await admin.query(`create database ${name}`);
      const source = await openDatabase({ url: urls[0] });
      installId = source.installId;
      let key: string;
      try {
        key = await populate(source);
      } finally {
        await source.close();
      }
      const backup = await task("backup", `${dir}/backup.dump`, { DATABASE_URL: urls[0] });
      assert.ok(backup.ok, backup.text);
      const restore = await task("restore", `${dir}/backup.dump`, { DATABASE_URL: urls[1] });
      assert.ok(restore.ok, restore.text);
      const again = await task("restore", `${dir}/backup.dump`, { DATABASE_URL: urls[1] });
      assert.match(again.text, /already holds labgate data/);
      const wrongKind = await task("restore", `${dir}/backup.dump`, {
        LABGATE_DATA_DIR: `${dir}/embedded`,
      });
      assert.match(wrongKind.text, /is a PostgreSQL backup: restore it with DATABASE_URL/);
      const restored = await openDatabase({ url: urls[1] });
      try {
        await verify(restored, key);
      } finally {
        await restored.close();
      }
    } finally {
      for (const name of names) await admin.query(`drop database if exists ${name} with (force)`);
      const roles = await admin.query<{ rolname: string }>(
        `select rolname from pg_roles where rolname like $1`,
        [`lg\\_${installId}\\_%`],
      );
      for (const { rolname } of roles.rows) await admin.query(`drop role if exists ${rolname}`);
      await admin.end();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
