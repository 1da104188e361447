/**
 * A SQL-door client that stops reading its results holds its backend until
 * the rows are taken. On the embedded database that backend is the one
 * session everyone shares, so the web side does not wait for it past
 * LABGATE_EMBEDDED_PREEMPT_MS: the client is ended (FATAL, after the rows
 * already sent, saying why) and the entry audited. On PostgreSQL the client
 * holds only its own backend, and nobody waits for it.
 */
import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { query } from "../../wire/protocol/messages.ts";
import { backendTest } from "../_support/backends.ts";
import { TestBrowser } from "../_support/http.ts";
import { detailOf, errorOf } from "./_client.ts";
import { ALICE, connectRawClient, FOLDER, openDoor } from "./_door.ts";

/** About 40 MB of rows: far more than the socket buffers and the door's own queue hold. */
const BIG = "select repeat('x', 1000) as pad from generate_series(1, 40000)";

/**
 * The 1 s, with room for a loaded two-core run (the answer waits for the preempt delay,
 * 300 ms, and the session's reset). Without the fix nothing answers until the client reads.
 */
const WITHIN_MS = 3000;

/** How long `fn` took, in ms; it fails after 20 s instead of hanging the run. */
async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("No answer within 20 s")), 20_000);
  });
  try {
    await Promise.race([fn(), late]);
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - started;
}

backendTest(
  "a SQL-door client that stops reading in a transaction leaves /healthz and a list page answering",
  async (t) => {
    await using fx = await openDoor(t);
    const browser = new TestBrowser(createApp(t.svc));
    const signedIn = await browser.signIn(ALICE.email, ALICE.password);
    await signedIn.body?.cancel();
    await using client = await connectRawClient(fx.port);
    client.send(query("begin"));
    await client.until();
    client.send(query(BIG));
    // The first row: the statement has run (on PGlite, all of it); from here the client reads
    // nothing while the door has megabytes to send it.
    const first = await client.next(30_000);
    assert.equal(first.type, "T", first.type === "E" ? errorOf(first).message : first.type);

    const health = await timed(async () => {
      const response = await browser.get("/healthz");
      await response.body?.cancel();
      assert.equal(response.status, 200);
    });
    const page = await timed(async () => {
      const response = await browser.get(`/folders${FOLDER}/-/lists/samples`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /gamma/);
    });
    console.log(
      `behind a client not reading [${t.backend}]: /healthz ${health.toFixed(0)} ms, ` +
        `list page ${page.toFixed(0)} ms`,
    );
    assert.ok(health < WITHIN_MS, `/healthz took ${health.toFixed(0)} ms`);
    assert.ok(page < WITHIN_MS, `the list page took ${page.toFixed(0)} ms`);

    if (t.backend === "postgres") {
      // Nobody waited for it: the client takes its rows and goes on.
      const rest = await client.until("Z", 30_000);
      assert.equal(rest.filter((m) => m.type === "E").length, 0);
      client.send(query("commit"));
      await client.until();
      return;
    }
    // The rows sent before it was ended arrive, then why it was ended.
    const seen = await client.closedByServer(30_000);
    const fatal = seen.find((m) => m.type === "E");
    assert.ok(fatal, "the client heard why it was ended");
    const error = errorOf(fatal);
    assert.equal(error.code, "25P03");
    assert.match(error.message, /another user needed the embedded database/);
    assert.match(error.message, /transaction was rolled back/);
    assert.match(detailOf(fatal) ?? "", /stopped reading/);

    await t.svc.audit.flush();
    const entry = await t.svc.db.selectFrom("audit_log").selectAll()
      .where("event", "=", "sql.preempted")
      .executeTakeFirstOrThrow();
    assert.equal(entry.door, "sql");
    assert.equal(entry.outcome, "error");
    assert.equal(entry.user_email, ALICE.email);
    assert.equal(entry.container_path, FOLDER);
    assert.equal(entry.client_addr, "127.0.0.1");
    assert.equal(entry.credential_kind, "password");
    assert.match(entry.detail ?? "", /stopped reading/);
    assert.match(entry.message ?? "", /^25P03 terminating connection: another user needed/);
  },
  { onDisk: true },
);

backendTest(
  "a SQL-door client that stops reading in a transaction holds the audit log back no longer than the idle limit",
  async (t) => {
    await using fx = await openDoor(t);
    await using client = await connectRawClient(fx.port);
    client.send(query("begin"));
    await client.until();
    client.send(query(BIG));
    assert.equal((await client.next(30_000)).type, "T");

    // The statement's own entry waits for the session, which nobody on the web side asks for:
    // the door's idle limit for an embedded session (5 s) ends the client, and gives it back.
    const flushed = await timed(() => t.svc.audit.flush());
    console.log(`audit flush behind a client not reading: ${flushed.toFixed(0)} ms`);
    const seen = await client.closedByServer(30_000);
    const fatal = seen.find((m) => m.type === "E");
    assert.ok(fatal, "the client heard why it was ended");
    assert.match(errorOf(fatal).message, /idle-in-transaction timeout/);
    const entry = await t.svc.db.selectFrom("audit_log").select("detail")
      .where("event", "=", "sql.query").where("detail", "=", BIG)
      .executeTakeFirst();
    assert.ok(entry, "the statement's entry was written");
  },
  { onDisk: true, only: ["pglite"] },
);
