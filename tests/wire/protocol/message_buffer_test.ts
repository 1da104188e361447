import assert from "node:assert/strict";
import { ProtocolError } from "../../../wire/protocol/bytes.ts";
import { MessageBuffer } from "../../../wire/protocol/message_buffer.ts";
import { query, startupMessage, SYNC } from "../../../wire/protocol/messages.ts";

Deno.test("next() returns whole messages however the bytes are split", () => {
  const stream = new Uint8Array([...query("select 1"), ...SYNC, ...query("select 2")]);
  for (let size = 1; size <= stream.length; size++) {
    const buffer = new MessageBuffer({ maxLength: 1000 });
    const seen: number[] = [];
    for (let at = 0; at < stream.length; at += size) {
      buffer.push(stream.slice(at, at + size));
      for (let m = buffer.next(); m; m = buffer.next()) seen.push(m[0]);
    }
    assert.deepEqual(seen, [0x51, 0x53, 0x51], `chunks of ${size}`);
    assert.equal(buffer.buffered, 0);
  }
});

Deno.test("next() returns views into the chunk, not copies", () => {
  const buffer = new MessageBuffer({ maxLength: 1000 });
  const chunk = new Uint8Array([...SYNC, ...SYNC]);
  buffer.push(chunk);
  assert.equal(buffer.next()!.buffer, chunk.buffer);
});

Deno.test("nextBatch() returns every whole message at once and keeps the partial one", () => {
  const buffer = new MessageBuffer({ maxLength: 1000 });
  const stream = new Uint8Array([...SYNC, ...query("x"), ...SYNC]);
  buffer.push(stream.slice(0, 12));
  assert.equal(buffer.nextBatch()!.length, 12);
  assert.equal(buffer.nextBatch(), null);
  buffer.push(stream.slice(12));
  assert.deepEqual([...buffer.nextBatch()!], [...SYNC]);
});

Deno.test("a large message arriving in many chunks is joined once", () => {
  const big = query("x".repeat(200_000));
  const buffer = new MessageBuffer({ maxLength: 1 << 20 });
  for (let at = 0; at < big.length; at += 1000) {
    buffer.push(big.slice(at, at + 1000));
    if (at + 1000 < big.length) assert.equal(buffer.next(), null);
  }
  assert.deepEqual(buffer.next(), big);
});

Deno.test("lengths below 4 or above the limit are protocol errors", () => {
  const buffer = new MessageBuffer({ maxLength: 100 });
  buffer.push(new Uint8Array([0x51, 0, 0, 0, 3]));
  assert.throws(() => buffer.next(), ProtocolError);
  const limited = new MessageBuffer({ maxLength: 100 });
  limited.push(new Uint8Array([0x51, 0, 0, 1, 0]));
  assert.throws(() => limited.next(), /larger than the limit/);
});

Deno.test("nextStartup() reads untyped packets and checks their length", () => {
  const buffer = new MessageBuffer({ maxLength: 10_000 });
  const packet = startupMessage({ user: "a", database: "/home" });
  buffer.push(packet.slice(0, 3));
  assert.equal(buffer.nextStartup(), null);
  buffer.push(packet.slice(3));
  assert.deepEqual(buffer.nextStartup(), packet);
  buffer.push(new Uint8Array([0, 0, 0, 2]));
  assert.throws(() => buffer.nextStartup(), /Invalid startup packet length/);
});
