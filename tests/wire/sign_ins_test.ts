import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { query, startupMessage } from "../../wire/protocol/messages.ts";
import { errorOf, RawClient, rowsOf } from "./_client.ts";
import { ALICE, FOLDER, openDoor } from "./_door.ts";

const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

backendTest("SignIns closes a socket that sends no startup packet in time", async (t) => {
  await using fx = await openDoor(t, { settings: { startupTimeoutSeconds: 1 } });
  await using silent = await RawClient.open(fx.port);
  const opened = performance.now();
  // Like PostgreSQL at its authentication_timeout: closed without a word.
  assert.deepEqual(await silent.closedByServer(5_000), []);
  const ms = performance.now() - opened;
  assert.ok(ms > 900 && ms < 3_000, `closed after ${ms} ms`);
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("select 1"));
  assert.deepEqual(rowsOf(await client.until()), [["1"]]);
});

backendTest("SignIns ends a sign-in that stops halfway with PostgreSQL's error", async (t) => {
  await using fx = await openDoor(t, { settings: { startupTimeoutSeconds: 1 } });
  await using stalled = await RawClient.open(fx.port);
  stalled.send(startupMessage({ user: ALICE.email, database: FOLDER }));
  assert.equal((await stalled.next()).type, "R"); // asked for SCRAM, never answered
  const seen = await stalled.closedByServer(5_000);
  assert.deepEqual(
    seen.map((m) => errorOf(m)),
    [{
      code: "57014",
      message: "canceling authentication due to timeout",
      position: undefined,
      severity: "FATAL",
    }],
  );
});

backendTest("SignIns refuses an address with too many connections signing in", async (t) => {
  await using fx = await openDoor(t, { settings: { maxUnauthenticatedPerAddress: 2 } });
  await using first = await RawClient.open(fx.port);
  await using second = await RawClient.open(fx.port);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await using third = await RawClient.open(fx.port);
  const seen = await third.closedByServer(5_000);
  assert.equal(seen.length, 1);
  assert.equal(errorOf(seen[0]).code, "53300");
  assert.match(errorOf(seen[0]).message, /signing in/);
  first.close();
  second.close();
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Signed-in connections do not count.
  const clients = [];
  for (let i = 0; i < 3; i++) clients.push(await RawClient.connect(fx.port, login));
  for (const client of clients) {
    client.send(query("select 1"));
    assert.deepEqual(rowsOf(await client.until()), [["1"]]);
    client.close();
  }
});
