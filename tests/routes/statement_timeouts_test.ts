import assert from "node:assert/strict";
import { sql } from "kysely";
import { setPolicy } from "../../src/data/containers.ts";
import { createList } from "../../src/data/lists.ts";
import { folderSchema } from "../../src/data/physical.ts";
import { insertRows } from "../../src/data/rows.ts";
import { withTimeLimit } from "../../src/data/time_limit.ts";
import { createUser, getUser, updateUser } from "../../src/data/users.ts";
import { LabgateError } from "../../src/errors.ts";
import { backendTest, type TestContext } from "../_support/backends.ts";
import { browserOf, enableKeys } from "../_support/keys.ts";

const RITA = { email: "rita@example.org", password: "reader-password-1" };

async function audited(t: TestContext, event: string) {
  await t.svc.audit.flush();
  return await t.svc.db.selectFrom("audit_log").select(["outcome", "detail", "message"])
    .where("event", "=", event).orderBy("id").execute();
}

backendTest(
  "PATCH /api/users/{id} sets a user's statement time limit, audited, shown on the admin page",
  async (t) => {
    const rita = await createUser(t.svc, t.admin, RITA);
    const { browser, csrf } = await browserOf(t);
    const patch = (body: unknown) =>
      browser.json("PATCH", `/api/users/${rita.id}`, body, { "x-csrf-token": csrf });
    const set = await patch({ statementTimeoutSeconds: 600 });
    assert.equal(set.status, 200);
    assert.equal((await set.json()).statementTimeoutSeconds, 600);
    assert.equal((await getUser(t.svc, rita.id))!.statement_timeout_seconds, 600);
    const refused = await patch({ statementTimeoutSeconds: 0 });
    assert.equal(refused.status, 400);
    assert.match((await refused.json()).error.message, /from 1 to 86400/);
    const [change] = await audited(t, "user.update");
    assert.deepEqual(JSON.parse(change.detail!).statementTimeoutSeconds, { from: null, to: 600 });
    const page = await (await browser.get(`/admin/users/${rita.id}`)).text();
    assert.match(page, /name="statement_timeout"[^>]*value="600"/);
    // The page's form clears it again: the site's limit applies.
    const form = await browser.postForm(`/admin/users/${rita.id}`, {
      _csrf: csrf,
      email: RITA.email,
      user_type: "normal",
      active: "on",
      statement_timeout: "",
    });
    assert.equal(form.status, 303);
    assert.equal((await getUser(t.svc, rita.id))!.statement_timeout_seconds, null);
  },
);

backendTest(
  "PATCH /api/keys/{id} sets an API key's statement time limit, site admins only, audited",
  async (t) => {
    await enableKeys(t);
    await createUser(t.svc, t.admin, RITA);
    const rita = await browserOf(t, RITA.email, RITA.password);
    const key = await rita.makeKey({ kind: "api_key", expiry: "1w" });
    const own = await rita.browser.json("PATCH", `/api/keys/${key.id}`, {
      statementTimeoutSeconds: 3600,
    }, { "x-csrf-token": rita.csrf });
    assert.equal(own.status, 403, "not by the key's owner");
    const admin = await browserOf(t);
    const set = await admin.browser.json("PATCH", `/api/keys/${key.id}`, {
      statementTimeoutSeconds: 3600,
    }, { "x-csrf-token": admin.csrf });
    assert.equal(set.status, 200);
    assert.equal((await set.json()).statementTimeoutSeconds, 3600);
    const [change] = await audited(t, "api_key.statement_timeout");
    assert.match(change.detail!, new RegExp(`${key.id} of ${RITA.email}: .*the site's → 3600 s`));
    const page = await (await admin.browser.get("/admin/keys")).text();
    assert.match(page, /name="statement_timeout"[^>]*value="3600"/);
  },
);

backendTest(
  "withTimeLimit() cancels a statement past the limit with a 503 naming it",
  async (t) => {
    // A statement that would run for minutes: PGlite ignores pg_sleep's interrupts as well.
    const slow = withTimeLimit(
      t.svc,
      200,
      (db) => sql`select count(*) from generate_series(1, 1000000000)`.execute(db),
    );
    const error = await slow.then(() => null, (e) => e);
    assert.ok(error instanceof LabgateError);
    assert.equal(error.status, 503);
    assert.match(error.message, /longer than the 0.2 s .*statementTimeoutSeconds/);
    // The database goes on (on the embedded one, in a restarted thread).
    const { rows } = await sql<{ n: number }>`select 1 as n`.execute(t.svc.database.root);
    assert.equal(rows[0].n, 1);
  },
  // The embedded database stops a statement by restarting its thread on the data dir.
  { onDisk: true },
);

backendTest(
  "withTimeLimit() reads open no transaction: the limit is their connection's own, not the app's",
  async (t) => {
    const read = (ms: number) =>
      withTimeLimit(t.svc, ms, async (db) =>
        (await sql<{ limit: string; alone: boolean }>`
          select current_setting('statement_timeout') as limit,
            statement_timestamp() = transaction_timestamp() as alone
        `.execute(db)).rows[0]);
    // The site's limit: a statement of its own (no BEGIN and SET LOCAL before it).
    assert.deepEqual(await read(30_000), { limit: "30s", alone: true });
    assert.deepEqual(await read(30_000), { limit: "30s", alone: true });
    // A caller's own limit, and back: each read runs at its own.
    assert.deepEqual(await read(300), { limit: "300ms", alone: true });
    const slow = withTimeLimit(t.svc, 300, (db) => sql`select pg_sleep(2)`.execute(db));
    await assert.rejects(slow, (e) => e instanceof LabgateError && e.status === 503);
    assert.deepEqual(await read(30_000), { limit: "30s", alone: true });
    await withTimeLimit(t.svc, 30_000, (db) => sql`select pg_sleep(0.5)`.execute(db));
    // The app's own statements have no limit.
    const { rows } = await sql<{ limit: string }>`
      select current_setting('statement_timeout') as limit
    `.execute(t.svc.database.root);
    assert.equal(rows[0].limit, "0");
  },
  { only: ["postgres"] },
);

/** Rita, who reads /home with a statement time limit of her own of 1 s, and a list there. */
async function limitedReader(t: TestContext, name: string) {
  const rita = await createUser(t.svc, t.admin, RITA);
  await updateUser(t.svc, t.admin, rita.id, { statementTimeoutSeconds: 1 });
  await setPolicy(t.svc, t.admin, "/home", {
    inherit: false,
    assignments: [{ principalId: rita.id, role: "reader" }],
  });
  return await createList(t.svc, t.admin, "/home", {
    name,
    key: "Id",
    autoKey: true,
    columns: [{ name: "N", type: "Integer" }],
  });
}

backendTest(
  "LabKey executeSql past the caller's own time limit answers 503 naming the limit",
  async (t) => {
    const def = await limitedReader(t, "wide");
    await insertRows(t.svc, t.admin, def, Array.from({ length: 3000 }, (_, n) => ({ N: n })));
    const { browser } = await browserOf(t, RITA.email, RITA.password);
    const whoami = await (await browser.get("/home/login-whoami.api")).json();
    const started = performance.now();
    const response = await browser.json("POST", "/home/query-executeSql.api", {
      schemaName: "lists",
      sql: "select count(*) as n from lists.wide a, lists.wide b, lists.wide c",
    }, { "X-LABKEY-CSRF": whoami.CSRF });
    assert.equal(response.status, 503);
    assert.match(
      JSON.stringify(await response.json()),
      /longer than the 1 s one statement may run/,
    );
    assert.ok(performance.now() - started < 10_000);
  },
  { only: ["postgres"] },
);

backendTest(
  "row reads of the JSON API and LabKey selectRows answer 503 past the caller's time limit",
  async (t) => {
    const def = await limitedReader(t, "locked");
    // Another session holds the list's table: a read waits for it until its time limit.
    let release!: () => void;
    let taken!: () => void;
    const lockTaken = new Promise<void>((resolve) => (taken = resolve));
    const holder = t.svc.database.root.transaction().execute(async (trx) => {
      const table = `${folderSchema(def.container.id)}.${def.list.table_name}`;
      await sql.raw(`lock table ${table} in access exclusive mode`).execute(trx);
      taken();
      await new Promise<void>((resolve) => (release = resolve));
    });
    // Without a limit the read would wait for the lock: it is let go after 5 s all the same.
    const letGo = setTimeout(() => release(), 5000);
    try {
      await lockTaken;
      const { browser } = await browserOf(t, RITA.email, RITA.password);
      const api = await browser.get(`/api/lists/${def.list.id}/rows?N~gt=0`);
      assert.equal(api.status, 503);
      assert.match((await api.json()).error.message, /longer than the 1 s one statement may run/);
      const labkey = await browser.get(
        "/home/query-selectRows.api?schemaName=lists&queryName=locked",
      );
      assert.equal(labkey.status, 503);
      assert.match(await labkey.text(), /longer than the 1 s one statement may run/);
    } finally {
      clearTimeout(letGo);
      release();
      await holder;
    }
  },
  // The embedded database has one session: nothing else can hold a lock meanwhile.
  { only: ["postgres"] },
);
