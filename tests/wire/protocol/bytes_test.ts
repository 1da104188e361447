import assert from "node:assert/strict";
import { concat, decodeText, ProtocolError, Reader, Writer } from "../../../wire/protocol/bytes.ts";

Deno.test("Writer.end() fills in the length of each message", () => {
  const bytes = new Writer().begin(0x51).str("select 1").end().begin(0x53).end().take();
  assert.deepEqual([...bytes.subarray(0, 5)], [0x51, 0, 0, 0, 13]);
  assert.deepEqual([...bytes.subarray(14)], [0x53, 0, 0, 0, 4]);
});

Deno.test("Writer.begin() without a type writes a startup packet", () => {
  const bytes = new Writer().begin().i32(80877103).end().take();
  assert.deepEqual([...bytes], [0, 0, 0, 8, 4, 210, 22, 47]);
});

Deno.test("Writer grows past its first buffer", () => {
  const long = "x".repeat(10_000);
  const r = new Reader(new Writer().begin(0x51).str(long).end().take(), 5);
  assert.equal(r.cstr(), long);
});

Deno.test("Reader reads fields in order and refuses to overrun", () => {
  const r = new Reader(new Writer().i16(-2).i32(7).str("é").u8(1).take());
  assert.equal(r.i16(), -2);
  assert.equal(r.i32(), 7);
  assert.equal(r.cstr(), "é");
  assert.equal(r.u8(), 1);
  r.end();
  assert.throws(() => r.u8(), ProtocolError);
  assert.throws(() => new Reader(new Uint8Array([0x61])).cstr(), /not terminated/);
  assert.throws(() => new Reader(new Uint8Array([0, 1])).end(), /longer than its fields/);
});

Deno.test("decodeText() refuses invalid UTF-8", () => {
  assert.equal(decodeText(new TextEncoder().encode("plain")), "plain");
  assert.equal(decodeText(new TextEncoder().encode("µg/mL")), "µg/mL");
  assert.throws(() => decodeText(new Uint8Array([0xc3, 0x28])), /Invalid byte sequence/);
});

Deno.test("concat() joins arrays and returns a single one as is", () => {
  const one = new Uint8Array([1]);
  assert.equal(concat([one]), one);
  assert.deepEqual([...concat([one, new Uint8Array([2, 3])])], [1, 2, 3]);
});
