import assert from "node:assert/strict";
import { ConnectionCounts } from "../../wire/door_threads.ts";

Deno.test("ConnectionCounts counts connections and users across threads sharing one buffer", () => {
  const buffer = ConnectionCounts.buffer();
  const [a, b] = [new ConnectionCounts(buffer), new ConnectionCounts(buffer)];
  assert.equal(a.open(3), true);
  assert.equal(b.open(3), true);
  assert.equal(a.open(3), true);
  assert.equal(b.open(3), false, "the fourth connection of three allowed");
  a.close();
  assert.equal(b.open(3), true);

  assert.equal(a.addUser(7, 2), null);
  assert.equal(b.addUser(7, 2), null);
  assert.equal(a.addUser(7, 2), 2, "user 7 has its two connections, wherever they are");
  assert.equal(b.addUser(8, 2), null, "another user counts apart");
  b.removeUser(7);
  assert.equal(a.addUser(7, 2), null);
});
