/**
 * Clients' quick statements share backends: PostgreSQL runs one client's
 * batch right behind another's on the same session. These tests show that
 * each client still gets exactly its own answers and errors, that slow
 * statements and transactions keep a backend to themselves, and that a
 * cancel reaches only its own statement.
 */
import assert from "node:assert/strict";
import { backendTest } from "../../_support/backends.ts";
import type { BackendOwner, Lease } from "../../../wire/backend/mod.ts";
import { PostgresEngine } from "../../../wire/backend/postgres.ts";
import type { PgLease } from "../../../wire/backend/postgres_backend.ts";
import { concat, readInt32 } from "../../../wire/protocol/bytes.ts";
import { BackendCode } from "../../../wire/protocol/message_codes.ts";
import {
  bindText,
  cancelRequest,
  execute,
  parse,
  query,
  SYNC,
} from "../../../wire/protocol/messages.ts";
import { errorOf, RawClient, rowsOf, statusOf, types } from "../_client.ts";
import { ALICE, type DoorFixture, type DoorOptions, FOLDER, openDoor } from "../_door.ts";

const NO_TYPES = new Uint8Array(2);
const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };
/** Answers the client's number doubled, the number of rows it reads and the backend it ran on. */
const DOUBLE = "select $1::int * 2 as twice, count(*) as n, pg_backend_pid() as pid " +
  "from lists.samples where 1 / $1::int >= 0";

/** One extended-protocol round trip of DOUBLE with `value`. */
async function double(client: RawClient, value: number) {
  // In one write, as drivers send a batch.
  client.send(
    concat([parse("", DOUBLE, NO_TYPES), bindText("", "", [String(value)]), execute(""), SYNC]),
  );
  const reply = await client.until();
  const error = reply.find((m) => m.type === "E");
  if (error) return { error: errorOf(error).code, status: statusOf(reply) };
  const [[twice, n, pid]] = rowsOf(reply);
  return { twice: Number(twice), n: Number(n), pid: Number(pid), status: statusOf(reply) };
}

/** `select pg_sleep(seconds)` by the extended protocol, in one write. */
function sleep(client: RawClient, seconds: number) {
  client.send(concat([
    parse("", "select pg_sleep($1::float8)", NO_TYPES),
    bindText("", "", [String(seconds)]),
    execute(""),
    SYNC,
  ]));
  return client.until();
}

/**
 * A PostgreSQL test with a door and `count` clients signed in at once (the
 * i-th with `params(i)`), closed at the end.
 */
function pipelineTest(
  name: string,
  count: number,
  fn: (clients: RawClient[], fx: DoorFixture) => Promise<void>,
  options: DoorOptions & { params?: (i: number) => Record<string, string> } = {},
): void {
  backendTest(name, async (t) => {
    await using fx = await openDoor(t, options);
    const clients = await Promise.all(
      Array.from(
        { length: count },
        (_, i) => RawClient.connect(fx.port, { ...login, params: options.params?.(i) }),
      ),
    );
    try {
      await fn(clients, fx);
    } finally {
      for (const client of clients) client.close();
    }
  }, { only: ["postgres"] });
}

pipelineTest(
  "PostgresEngine pipelines quick statements of many clients on a few backends",
  16,
  async (clients) => {
    await double(clients[0], 1); // known from now on as a quick statement
    // How many backends a round takes depends on the machine's load (a batch
    // older than a few milliseconds takes no one behind it); the fewest shows
    // the sharing.
    let fewest = Infinity;
    for (let round = 0; round < 30; round++) {
      const pids = new Set<number>();
      // Every client sends at once: one backend per client would need sixteen.
      const answers = await Promise.all(clients.map((c, i) => double(c, round * 100 + i + 1)));
      answers.forEach((answer, i) => {
        assert.deepEqual(
          { twice: answer.twice, n: answer.n, status: answer.status },
          { twice: 2 * (round * 100 + i + 1), n: 3, status: "I" },
        );
        pids.add(answer.pid!);
      });
      fewest = Math.min(fewest, pids.size);
    }
    assert.ok(fewest <= 8, `16 clients at once used at least ${fewest} backends`);
  },
);

pipelineTest(
  "an error in one client's batch leaves the batches pipelined around it alone",
  12,
  async (clients) => {
    await double(clients[0], 1);
    for (let round = 0; round < 10; round++) {
      // Every third client divides by zero; simple queries run in between.
      const answers = await Promise.all(clients.map(async (client, i) => {
        if (i % 3 === 1) {
          client.send(query(`select ${round} as r, label from lists.samples where id = 1`));
          const reply = await client.until();
          return { rows: rowsOf(reply), status: statusOf(reply) };
        }
        return await double(client, i % 3 === 0 ? 0 : i);
      }));
      answers.forEach((answer, i) => {
        if (i % 3 === 0) assert.deepEqual(answer, { error: "22012", status: "I" });
        else if (i % 3 === 1) {
          assert.deepEqual(answer, { rows: [[String(round), "alpha"]], status: "I" });
        } else assert.equal((answer as { twice: number }).twice, 2 * i);
      });
    }
    // The clients that failed go on normally.
    assert.equal((await double(clients[0], 21)).twice, 42);
  },
);

pipelineTest(
  "a transaction keeps its backend to itself while other clients pipeline",
  9,
  async ([holder, ...others]) => {
    await double(others[0], 1);
    holder.send(query("begin; select pg_backend_pid()"));
    const begun = await holder.until();
    assert.equal(statusOf(begun), "T");
    const holderPid = Number(rowsOf(begun)[0][0]);
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(others.map((c, i) => double(c, i + 1)));
      for (const answer of answers) assert.notEqual(answer.pid, holderPid);
      holder.send(query("select pg_backend_pid()"));
      const inside = await holder.until();
      assert.deepEqual([rowsOf(inside), statusOf(inside)], [[[String(holderPid)]], "T"]);
    }
    holder.send(query("commit"));
    assert.equal(statusOf(await holder.until()), "I");
  },
);

pipelineTest(
  "a statement that turns out slow holds up no later client",
  2,
  async ([slow, quick]) => {
    await sleep(slow, 0); // quick last time, so it may share a backend
    await double(quick, 1);
    const sleeping = sleep(slow, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    for (let i = 0; i < 20; i++) assert.equal((await double(quick, i + 1)).twice, 2 * (i + 1));
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 800, `20 quick statements took ${Math.round(elapsed)} ms`);
    assert.match(types(await sleeping), /^1?2DCZ$/);
  },
);

pipelineTest(
  "a cancel reaches only its own statement on a shared backend",
  7,
  async ([slow, ...others], fx) => {
    await sleep(slow, 0);
    await double(others[0], 1);
    const sleeping = sleep(slow, 30);
    const busy = Promise.all(others.map(async (client, i) => {
      for (let n = 1; n <= 20; n++) assert.equal((await double(client, i + n)).twice, 2 * (i + n));
    }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await using canceler = await RawClient.open(fx.port);
    await canceler.write(cancelRequest(slow.pid, slow.secret));
    await canceler.closedByServer();
    const reply = await sleeping;
    assert.equal(errorOf(reply.find((m) => m.type === "E")!).code, "57014");
    await busy;
    assert.equal((await double(slow, 4)).twice, 8);
  },
);

pipelineTest(
  "many clients logging in at once on a small pool all get served",
  40,
  async (clients) => {
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(clients.map((c, i) => double(c, i + 1)));
      answers.forEach((answer, i) => assert.equal(answer.twice, 2 * (i + 1)));
    }
  },
  { settings: { backendConnections: 3 }, params: (i) => ({ application_name: `c${i % 4}` }) },
);

backendTest(
  "PostgresEngine attaches clients that waited for a backend together, not one per drain",
  async (t) => {
    const engine = new PostgresEngine(t.url!, { size: () => 1 });
    const scope = { key: "one", setupSql: "select 1", resetSql: [], statementTimeoutMs: 30_000 };
    try {
      const holding = ownerUntil(2);
      const holder = await engine.acquire(scope, holding, {});
      // A transaction holds the only backend alone: every other client must wait for it.
      holder.write(query("begin"));
      holder.flush(false);
      const got: Lease[] = [];
      const waiting = [1, 2, 3].map(async () => {
        got.push(await engine.acquire(scope, ownerUntil(1), {}));
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(got.length, 0);
      assert.equal(engine.pool().waiting, 3);
      holder.write(query("rollback"));
      holder.flush(false);
      await holding.done;
      holder.release(true);
      // The backend is free: all three waiters get it at once, to pipeline their statements on
      // it, rather than the first alone while the others wait for it to drain again.
      await Promise.race([
        Promise.all(waiting),
        new Promise((_, reject) => setTimeout(() => reject(new Error("waiters left")), 2000)),
      ]);
      assert.equal(new Set(got.map((lease) => (lease as PgLease).backend)).size, 1);
      for (const lease of got) lease.release(true);
    } finally {
      await engine.close();
    }
  },
  { only: ["postgres"] },
);

/** A lease owner whose `done` settles once `ready` ReadyForQuery messages came. */
function ownerUntil(ready: number): BackendOwner & { done: Promise<void> } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return {
    done: promise,
    onBackendData(bytes) {
      for (let at = 0; at < bytes.length; at += 1 + readInt32(bytes, at + 1)) {
        if (bytes[at] === BackendCode.ReadyForQuery && --ready === 0) resolve();
      }
    },
    onBackendLost: () => resolve(),
  };
}
