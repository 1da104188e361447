import assert from "node:assert/strict";
import pg from "pg";
import { backendTest, type TestContext } from "../_support/backends.ts";
import { setPolicy } from "../../src/data/containers.ts";
import { createUser } from "../../src/data/users.ts";
import { openDatabase } from "../../src/db/mod.ts";
import type { Invalidation } from "../../src/invalidation.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { Permission } from "../../src/security/permissions.ts";
import { createServices, type Services } from "../../src/services.ts";

async function eventually(what: string, check: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + 2_000;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 2 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function recorder(svc: Services): Invalidation[] {
  const events: Invalidation[] = [];
  svc.invalidate.subscribe((event) => events.push(event));
  return events;
}

/** A second instance on the test's PostgreSQL database, listening; closed after `fn`. */
async function withOther(t: TestContext, fn: (other: Services) => Promise<void>) {
  const database = await openDatabase({ url: t.url!, poolSize: 2 });
  try {
    const other = createServices(t.config, database, { now: () => t.svc.now() });
    await Promise.all([other.invalidate.ready, t.svc.invalidate.ready]);
    await fn(other);
  } finally {
    await database.close();
  }
}

backendTest("publish() drops the cached data on this instance before it returns", async (t) => {
  const events = recorder(t.svc);
  const sent = t.svc.invalidate.publish({ kind: "key", id: "0123456789abcdef" });
  assert.deepEqual(events, [{ kind: "key", id: "0123456789abcdef" }]);
  await sent;
});

backendTest(
  "publish() reaches another instance on the database, and its echo is skipped",
  async (t) => {
    await withOther(t, async (other) => {
      const here = recorder(t.svc);
      const there = recorder(other);
      await t.svc.invalidate.publish({ kind: "lists" });
      await eventually("the other instance hears it", () => there.length === 1);
      await other.invalidate.publish({ kind: "session", id: "abc" });
      // Notifications arrive in commit order: the echo of "lists" came before "session".
      await eventually("this instance hears the answer", () => here.length === 2);
      assert.deepEqual(here, [{ kind: "lists" }, { kind: "session", id: "abc" }]);
      assert.deepEqual(there, [{ kind: "lists" }, { kind: "session", id: "abc" }]);
    });
  },
  { only: ["postgres"] },
);

backendTest(
  "a role change on one instance changes what another instance resolves",
  async (t) => {
    const kim = await createUser(t.svc, t.admin, { email: "kim@example.org" });
    const home = await t.svc.db.selectFrom("containers").select("id").where("path", "=", "/home")
      .executeTakeFirstOrThrow();
    await setPolicy(t.svc, t.admin, "/home", {
      inherit: false,
      assignments: [{ principalId: kim.id, role: "reader" }],
    });
    await withOther(t, async (other) => {
      assert.equal(await other.permissions.resolve(kim.id, home.id), Permission.READ);
      await setPolicy(t.svc, t.admin, "/home", {
        inherit: false,
        assignments: [{ principalId: kim.id, role: "author" }],
      });
      await eventually(
        "the other instance resolves Author",
        async () =>
          await other.permissions.resolve(kim.id, home.id) ===
            (Permission.READ | Permission.INSERT),
      );
    });
  },
  { only: ["postgres"] },
);

backendTest(
  "a settings change on one instance reaches another instance's listeners",
  async (t) => {
    await withOther(t, async (other) => {
      assert.equal((await other.settings.get(keySettings)).apiKeys, false);
      const changed: (string | null)[] = [];
      other.settings.onChange((key) => changed.push(key));
      await t.svc.settings.set(keySettings, {
        apiKeys: true,
        apiKeyExpiries: ["1w"],
        sessionKeys: false,
      });
      await eventually("the other instance is told", () => changed.includes(keySettings.key));
      assert.equal((await other.settings.get(keySettings)).apiKeys, true);
    });
  },
  { only: ["postgres"] },
);

backendTest(
  "a lost listening connection comes back and drops everything cached meanwhile",
  async (t) => {
    await withOther(t, async (other) => {
      const there = recorder(other);
      const admin = new pg.Client({ connectionString: t.url });
      await admin.connect();
      try {
        const { rowCount } = await admin.query(
          `select pg_terminate_backend(pid) from pg_stat_activity
           where datname = current_database() and application_name = 'labgate-listen'`,
        );
        assert.equal(rowCount, 2);
      } finally {
        await admin.end();
      }
      await eventually(
        "the other instance drops everything",
        () => there.some((e) => e.kind === "all"),
      );
      await t.svc.invalidate.publish({ kind: "lists" });
      await eventually("it hears the next change", () => there.some((e) => e.kind === "lists"));
    });
  },
  { only: ["postgres"] },
);
