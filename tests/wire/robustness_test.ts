import assert from "node:assert/strict";
import { backendTest } from "../_support/backends.ts";
import { Writer } from "../../wire/protocol/bytes.ts";
import { StartupCode } from "../../wire/protocol/message_codes.ts";
import { query, startupMessage } from "../../wire/protocol/messages.ts";
import { errorOf, RawClient, rowsOf, types } from "./_client.ts";
import { ALICE, FOLDER, openDoor } from "./_door.ts";

const login = { user: ALICE.email, password: ALICE.password, database: FOLDER };

/** Sends `bytes` on a new connection and returns what the door answered before closing. */
async function poke(port: number, bytes: Uint8Array, options: { login?: boolean } = {}) {
  await using client = options.login
    ? await RawClient.connect(port, login)
    : await RawClient.open(port);
  await client.write(bytes).catch(() => {});
  // The client says no more: a door waiting for the rest of a packet must give up.
  await client.conn.closeWrite().catch(() => {});
  return await client.closedByServer();
}

function fatalCode(messages: { type: string; bytes: Uint8Array }[]): string {
  const error = messages.find((m) => m.type === "E");
  assert.ok(error, `expected an ErrorResponse, got "${types(messages)}"`);
  assert.equal(errorOf(error).severity, "FATAL");
  return errorOf(error).code;
}

backendTest("malformed packets get a FATAL error and the door keeps serving others", async (t) => {
  await using fx = await openDoor(t);
  await using bystander = await RawClient.connect(fx.port, login);

  const huge = new Writer().i32(0x7fffffff).i32(StartupCode.Protocol3).take();
  assert.equal(fatalCode(await poke(fx.port, huge)), "08P01");
  const tiny = new Writer().i32(4).take();
  assert.equal(fatalCode(await poke(fx.port, tiny)), "08P01");
  const v2 = new Writer().begin().i32(2 << 16).str("user").str("x").u8(0).end().take();
  assert.equal(fatalCode(await poke(fx.port, v2)), "0A000");
  const unterminated = new Writer().begin().i32(StartupCode.Protocol3).bytes(
    new TextEncoder().encode("user"),
  ).end().take();
  assert.equal(fatalCode(await poke(fx.port, unterminated)), "08P01");
  // Plaintext sent right behind an SSLRequest must not be read as if it were encrypted.
  const sslThenData = new Uint8Array([
    ...new Writer().begin().i32(StartupCode.SSLRequest).end().take(),
    ...startupMessage({ user: ALICE.email, database: FOLDER }),
  ]);
  assert.equal(fatalCode(await poke(fx.port, sslThenData)), "08P01");
  assert.deepEqual(await poke(fx.port, new Uint8Array([0, 0, 0])), []);

  // After login: bad lengths, unknown types, truncated bodies.
  assert.equal(
    fatalCode(await poke(fx.port, new Uint8Array([0x51, 0, 0, 0, 2]), { login: true })),
    "08P01",
  );
  assert.equal(
    fatalCode(await poke(fx.port, new Uint8Array([0x51, 0x7f, 0, 0, 0]), { login: true })),
    "08P01",
  );
  assert.equal(
    fatalCode(await poke(fx.port, new Uint8Array([0x7a, 0, 0, 0, 4]), { login: true })),
    "08P01",
  );
  assert.equal(
    fatalCode(await poke(fx.port, new Uint8Array([0x45, 0, 0, 0, 6, 0x70, 0]), { login: true })),
    "08P01",
  );
  assert.equal(
    fatalCode(
      await poke(fx.port, new Uint8Array([0x51, 0, 0, 0, 7, 0xc3, 0x28, 0]), { login: true }),
    ),
    "08P01",
  );

  bystander.send(query("select count(*) from lists.samples"));
  assert.deepEqual(rowsOf(await bystander.until()), [["3"]]);
});

backendTest("random bytes from many clients at once do not take the door down", async (t) => {
  await using fx = await openDoor(t);
  const fuzz = Array.from({ length: 40 }, (_, i) => {
    const bytes = crypto.getRandomValues(new Uint8Array(1 + ((i * 37) % 300)));
    // Half of them look like a startup packet of the right length.
    if (i % 2 === 0 && bytes.length >= 8) new DataView(bytes.buffer).setInt32(0, bytes.length);
    return poke(fx.port, bytes).catch(() => []);
  });
  const afterLogin = Array.from(
    { length: 10 },
    () =>
      poke(fx.port, crypto.getRandomValues(new Uint8Array(64)), { login: true }).catch(() => []),
  );
  await Promise.all([...fuzz, ...afterLogin]);
  await using client = await RawClient.connect(fx.port, login);
  client.send(query("select label from lists.samples where id = 1"));
  assert.deepEqual(rowsOf(await client.until()), [["alpha"]]);
});

backendTest("protocol 3.x asks for NegotiateProtocolVersion and continues on 3.0", async (t) => {
  await using fx = await openDoor(t);
  await using client = await RawClient.open(fx.port);
  const startup = new Writer().begin().i32(StartupCode.Protocol3 | 2).str("user").str(ALICE.email)
    .str("database").str(FOLDER).str("_pq_.future").str("1").u8(0).end().take();
  client.send(startup);
  const negotiate = await client.next();
  assert.equal(negotiate.type, "v");
  assert.equal(
    new DataView(negotiate.bytes.buffer, negotiate.bytes.byteOffset).getInt32(5),
    StartupCode.Protocol3,
  );
  assert.equal((await client.next()).type, "R");
});
