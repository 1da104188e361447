import assert from "node:assert/strict";
import { secretMatches, sha256Hex, timingSafeEqual } from "../../../src/security/secrets.ts";

Deno.test("timingSafeEqual() is true only for equal strings", () => {
  assert.equal(timingSafeEqual("abc", "abc"), true);
  assert.equal(timingSafeEqual("", ""), true);
  assert.equal(timingSafeEqual("abc", "abd"), false);
  assert.equal(timingSafeEqual("abc", "ab"), false);
  assert.equal(timingSafeEqual("ab", "abc"), false);
  assert.equal(timingSafeEqual("", "a"), false);
  assert.equal(timingSafeEqual("é", "e"), false);
});

Deno.test("secretMatches() checks the hash once and remembers only a match", async () => {
  const hash = await sha256Hex("right");
  const memo = { verified: null as string | null };
  assert.equal(await secretMatches("wrong", hash, memo), false);
  assert.equal(memo.verified, null);
  assert.equal(await secretMatches("right", hash, memo), true);
  assert.equal(memo.verified, "right");
  assert.equal(await secretMatches("right", "not the hash any more", memo), true, "remembered");
  assert.equal(await secretMatches("wrong", hash, memo), false);
});
