import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { openDatabase } from "../../src/db/mod.ts";
import { createServices } from "../../src/services.ts";
import { sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { cancelRequest, query } from "../../wire/protocol/messages.ts";
import { startSqlDoor } from "../../wire/mod.ts";
import { errorOf, RawClient, rowsOf, types } from "./_client.ts";
import { ALICE, connectRawClient, FOLDER, openDoor } from "./_door.ts";

const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`Timed out waiting until ${what}`);
}

async function refused(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return false;
  } catch {
    return true;
  }
}

backendTest("a port change re-listens at once and keeps live connections", async (t) => {
  const first = freePort();
  await using fx = await openDoor(t, { portFromSettings: true, settings: { port: first } });
  assert.equal(fx.port, first);
  await using live = await RawClient.connect(first, login);
  const second = freePort();
  const settings = await t.svc.settings.get(sqlDoorSettings);
  await t.svc.settings.set(sqlDoorSettings, { ...settings, port: second });
  await eventually(() => fx.door.port === second, "the door listens on the new port");
  assert.ok(await refused(first));
  await using fresh = await RawClient.connect(second, login);
  for (const client of [live, fresh]) {
    client.send(query("select count(*) from lists.samples"));
    assert.deepEqual(rowsOf(await client.until()), [["3"]]);
  }
});

backendTest("switching the door off stops listening and ends connections", async (t) => {
  await using fx = await openDoor(t, { portFromSettings: true, settings: { port: freePort() } });
  const port = fx.port;
  await using live = await RawClient.connect(port, login);
  const settings = await t.svc.settings.get(sqlDoorSettings);
  await t.svc.settings.set(sqlDoorSettings, { ...settings, enabled: false });
  const ended = await live.closedByServer();
  assert.equal(errorOf(ended[0]).code, "57P01");
  assert.ok(await refused(port));
  await t.svc.settings.set(sqlDoorSettings, { ...settings, enabled: true });
  await eventually(async () => !await refused(port), "the door listens again");
});

backendTest("500 idle connections share a few backend sessions", async (t) => {
  await using fx = await openDoor(t, {
    settings: { backendConnections: 3, maxConnectionsPerUser: 600, maxConnections: 600 },
  });
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < 500; i += 50) {
      clients.push(
        ...await Promise.all(
          Array.from({ length: 50 }, () => RawClient.connect(fx.port, login)),
        ),
      );
    }
    assert.equal(fx.door.connections, 500);
    const replies = await Promise.all(clients.map(async (client, i) => {
      client.send(query(`select ${i} + count(*) from lists.samples`));
      return rowsOf(await client.until())[0][0];
    }));
    assert.deepEqual(replies.slice(0, 3), ["3", "4", "5"]);
    if (t.url) {
      const db = new URL(t.url).pathname.slice(1);
      const { rows } = await (await import("kysely")).sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = ${db} and application_name not in ('labgate', 'labgate-listen')`.execute(
        t.svc.db,
      );
      assert.ok(rows[0].n <= 3, `${rows[0].n} backend sessions for 500 clients`);
    }
  } finally {
    for (const client of clients) client.close();
  }
});

backendTest("notices pass through and large results stream", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("rollback"));
  assert.equal(types(await client.until()), "NCZ");
  client.send(query("select g, repeat('x', 100) from generate_series(1, 200000) g"));
  const reply = await client.until("Z", 60_000);
  assert.equal(reply.filter((m) => m.type === "D").length, 200_000);
});

backendTest(
  "a CancelRequest to another instance on the same database cancels the query",
  async (t) => {
    await using fx = await openDoor(t);
    const other = await openDatabase({ url: t.url! });
    const otherServices = createServices(t.config, other);
    await otherServices.invalidate.ready;
    const otherDoor = await startSqlDoor(otherServices, {
      hostname: "127.0.0.1",
      port: 0,
      getTlsMaterial: () => Promise.resolve(null),
    });
    try {
      await using client = await connectRawClient(fx.port);
      client.send(query("select pg_sleep(20)"));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = performance.now();
      const cancel = await Deno.connect({ hostname: "127.0.0.1", port: otherDoor.port! });
      await cancel.write(cancelRequest(client.pid, client.secret));
      cancel.close();
      const reply = await client.until();
      const error = reply.find((m) => m.type === "E");
      assert.ok(error, "the statement ended with an error");
      assert.equal(errorOf(error).code, "57014");
      assert.ok(performance.now() - started < 5000, "canceled, not run to its end");
      client.send(query("select 1"));
      assert.deepEqual(rowsOf(await client.until()), [["1"]], "the connection goes on");
    } finally {
      await otherDoor.close();
      await otherServices.audit.flush();
      await other.close();
    }
  },
  { only: ["postgres"] },
);
