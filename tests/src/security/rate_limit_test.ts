import assert from "node:assert/strict";
import { RateLimiter } from "../../../src/security/rate_limit.ts";

function clock() {
  let ms = 1_000_000;
  return { now: () => new Date(ms), advance: (by: number) => (ms += by) };
}

Deno.test("RateLimiter counts hits in the sliding window and forgets older ones", () => {
  const time = clock();
  const limiter = new RateLimiter({ windowMs: 60_000, now: time.now });
  limiter.hit("a");
  time.advance(30_000);
  limiter.hit("a");
  limiter.hit("b");
  assert.equal(limiter.count("a"), 2);
  assert.equal(limiter.retryAfterMs("a", 2), 30_000);
  assert.equal(limiter.retryAfterMs("a", 3), 0);
  time.advance(30_000);
  assert.equal(limiter.count("a"), 1);
  time.advance(30_000);
  assert.equal(limiter.count("a"), 0);
  assert.equal(limiter.count("b"), 0);
  limiter.hit("a");
  limiter.reset("a");
  assert.equal(limiter.count("a"), 0);
});

Deno.test("RateLimiter keeps many hits per key cheaply and exactly", () => {
  const time = clock();
  const limiter = new RateLimiter({ windowMs: 10_000, now: time.now });
  for (let i = 0; i < 50_000; i++) {
    limiter.hit("k");
    time.advance(1);
  }
  // The window holds the hits made 1 … 9 999 ms ago.
  assert.equal(limiter.count("k"), 9_999);
  assert.equal(limiter.retryAfterMs("k", 9_999), 1);
  assert.equal(limiter.retryAfterMs("k", 10_000), 0);
});
