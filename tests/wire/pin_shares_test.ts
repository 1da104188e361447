import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { WireError } from "../../wire/protocol/errors.ts";
import { query } from "../../wire/protocol/messages.ts";
import { PinShares } from "../../wire/pin_shares.ts";
import { errorOf, RawClient, rowsOf, statusOf } from "./_client.ts";
import { ALICE, FOLDER, openDoor } from "./_door.ts";

const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

Deno.test("PinShares.take() gives each user at most the limit, counted apart", () => {
  const pins = new PinShares({ perUser: () => 2, total: () => 10, waitMs: () => 0 });
  assert.ok(pins.take(1));
  assert.ok(pins.take(1));
  assert.ok(!pins.take(1));
  assert.ok(pins.take(2));
  pins.give(1);
  assert.ok(pins.take(1));
});

Deno.test("PinShares.wait() gets a share another connection of the user gives back", async () => {
  const pins = new PinShares({ perUser: () => 1, total: () => 10, waitMs: () => 5_000 });
  assert.ok(pins.take(1));
  const waiting = pins.wait(1, new AbortController().signal);
  pins.give(1);
  await waiting;
  assert.ok(!pins.take(1), "the waiter holds the share now");
});

Deno.test("PinShares.wait() fails after the wait with 53300 naming the limit", async () => {
  const pins = new PinShares({ perUser: () => 1, total: () => 10, waitMs: () => 50 });
  pins.add(1);
  pins.add(1); // held without asking: over the limit
  const error = await pins.wait(1, new AbortController().signal).then(
    () => assert.fail("got a share"),
    (error: unknown) => error as WireError,
  );
  assert.equal(error.code, "53300");
  assert.equal(error.severity, "ERROR");
  assert.match(error.message, /2 of the SQL door's database sessions/);
  assert.match(error.hint!, /maxPinnedBackendsPerUser/);
  pins.give(1);
  assert.ok(!pins.take(1));
  pins.give(1);
  assert.ok(pins.take(1));
});

Deno.test("PinShares.take() leaves one backend of the pool to users without a share", async () => {
  const pins = new PinShares({ perUser: () => 2, total: () => 3, waitMs: () => 50 });
  assert.ok(pins.take(1));
  assert.ok(pins.take(1));
  assert.ok(pins.take(2));
  assert.ok(!pins.take(3), "user 3 has a share left, the door has none");
  const error = await pins.wait(3, new AbortController().signal).then(
    () => assert.fail("got a share"),
    (error: unknown) => error as WireError,
  );
  assert.equal(error.code, "53300");
  assert.match(error.message, /All 3 of the SQL door's database sessions/);
  const waiting = pins.wait(3, new AbortController().signal);
  pins.give(1);
  await waiting;
  assert.ok(!pins.take(1));
});

Deno.test("PinShares.wait() ends with 57014 when the client cancels", async () => {
  const pins = new PinShares({ perUser: () => 1, total: () => 10, waitMs: () => 5_000 });
  assert.ok(pins.take(1));
  const abort = new AbortController();
  const waiting = pins.wait(1, abort.signal);
  abort.abort();
  await assert.rejects(waiting, (error: WireError) => error.code === "57014");
  pins.give(1);
  assert.ok(pins.take(1), "the canceled waiter took nothing");
});

backendTest(
  "a BEGIN past the user's pinned share waits pinWaitSeconds, then fails with 53300",
  async (t) => {
    await using fx = await openDoor(t, {
      settings: { maxPinnedBackendsPerUser: 1, pinWaitSeconds: 1 },
    });
    await using holder = await RawClient.connect(fx.port, login);
    await using late = await RawClient.connect(fx.port, login);
    holder.send(query("begin"));
    assert.equal(statusOf(await holder.until()), "T");
    const asked = performance.now();
    late.send(query("begin; select 1"));
    const reply = await late.until();
    const waited = performance.now() - asked;
    assert.ok(waited > 900 && waited < 3_000, `answered after ${waited} ms`);
    assert.equal(errorOf(reply.find((m) => m.type === "E")!).code, "53300");
    assert.equal(statusOf(reply), "I");
    holder.send(query("select 1"), query("commit"));
    await holder.until();
    await holder.until();
    late.send(query("begin; select 2"));
    const second = await late.until();
    assert.deepEqual(rowsOf(second), [["2"]]);
    assert.equal(statusOf(second), "T");
    late.send(query("commit"));
    assert.equal(statusOf(await late.until()), "I");
  },
);

backendTest("a BEGIN waiting for the user's share goes ahead when it is given back", async (t) => {
  await using fx = await openDoor(t, {
    settings: { maxPinnedBackendsPerUser: 1, pinWaitSeconds: 5 },
  });
  await using holder = await RawClient.connect(fx.port, login);
  await using late = await RawClient.connect(fx.port, login);
  holder.send(query("begin"));
  await holder.until();
  late.send(query("begin"));
  await new Promise((resolve) => setTimeout(resolve, 200));
  holder.send(query("rollback"));
  assert.equal(statusOf(await holder.until()), "I");
  assert.equal(statusOf(await late.until()), "T");
});

backendTest(
  "open transactions leave one backend to sign-ins and single statements",
  async (t) => {
    await using fx = await openDoor(t, {
      settings: { backendConnections: 3, maxPinnedBackendsPerUser: 5, pinWaitSeconds: 1 },
    });
    const holders = [];
    for (let i = 0; i < 2; i++) {
      const holder = await RawClient.connect(fx.port, login);
      holder.send(query("begin"));
      assert.equal(statusOf(await holder.until()), "T");
      holders.push(holder);
    }
    try {
      await using late = await RawClient.connect(fx.port, login);
      late.send(query("begin"));
      const reply = await late.until();
      assert.equal(errorOf(reply[0]).code, "53300");
      assert.match(errorOf(reply[0]).message, /All 2 of the SQL door's database sessions/);
      const asked = performance.now();
      await using single = await RawClient.connect(fx.port, login);
      single.send(query("select 1"));
      assert.deepEqual(rowsOf(await single.until()), [["1"]]);
      const ms = performance.now() - asked;
      assert.ok(ms < 1_000, `signed in and read in ${ms} ms`);
    } finally {
      for (const holder of holders) holder.close();
    }
  },
  // PGlite is one session: an open transaction holds it for everyone, for at most 5 s.
  { only: ["postgres"] },
);
