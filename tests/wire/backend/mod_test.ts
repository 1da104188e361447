import assert from "node:assert/strict";
import { capturedSettings, readReply, StatementCache } from "../../../wire/backend/mod.ts";
import { Writer } from "../../../wire/protocol/bytes.ts";
import { WireError } from "../../../wire/protocol/errors.ts";
import { errorResponse } from "../../../wire/protocol/messages.ts";

Deno.test("StatementCache names statements and evicts the least recently used", () => {
  const cache = new StatementCache({ limit: 2, prefix: "lg_p" });
  assert.equal(cache.add("a"), "lg_p1");
  assert.equal(cache.add("b"), "lg_p2");
  assert.equal(cache.get("a"), "lg_p1");
  assert.equal(cache.add("c"), "lg_p3");
  assert.deepEqual(cache.takeEvicted(), ["lg_p2"]);
  assert.deepEqual(cache.takeEvicted(), []);
  assert.equal(cache.get("b"), undefined);
  assert.equal(cache.peek("a"), "lg_p1");
  cache.clear();
  assert.equal(cache.get("a"), undefined);
});

Deno.test("readReply() collects rows and the first error", () => {
  const row = new Writer().begin(0x44).i16(2).i32(9).bytes(new TextEncoder().encode("DateStyle"))
    .i32(-1).end().take();
  const reply = readReply(
    new Uint8Array([
      ...row,
      ...errorResponse(new WireError("22023", "bad")),
      ...new Uint8Array([0x5a, 0, 0, 0, 5, 0x49]),
    ]),
  );
  assert.deepEqual(reply.rows, [["DateStyle", null]]);
  assert.equal(reply.error?.find(([c]) => c === 0x43)?.[1], "22023");
});

Deno.test("capturedSettings() leaves out the cursor count row", () => {
  assert.deepEqual(
    [...capturedSettings([["DateStyle", "ISO, MDY"], ["", "0"]])],
    [["DateStyle", "ISO, MDY"]],
  );
});
