import assert from "node:assert/strict";
import {
  cameOverTls,
  forwardedClient,
  isLoopback,
  normalizeAddress,
} from "../../../src/security/forwarded.ts";

Deno.test("isLoopback() knows every loopback address and nothing else", () => {
  for (const a of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "[::1]"]) {
    assert.equal(isLoopback(a), true, a);
  }
  for (const a of ["10.0.0.1", "::ffff:10.0.0.1", "128.0.0.1", "127.0.0.1.evil", "", null]) {
    assert.equal(isLoopback(a), false, String(a));
  }
});

Deno.test("forwardedClient() believes X-Forwarded-For only from trusted proxies", () => {
  const trusted = new Set(["10.0.0.2", "10.0.0.3"]);
  assert.equal(forwardedClient("10.0.0.2", "198.51.100.7", trusted), "198.51.100.7");
  assert.equal(
    forwardedClient("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.3", trusted),
    "198.51.100.7",
    "the right-most address no trusted proxy wrote",
  );
  assert.equal(forwardedClient("192.0.2.1", "198.51.100.7", trusted), "192.0.2.1");
  assert.equal(forwardedClient("::ffff:10.0.0.2", "198.51.100.7", trusted), "198.51.100.7");
  assert.equal(normalizeAddress("::FFFF:10.0.0.2"), "10.0.0.2");
  assert.equal(cameOverTls(new URL("http://x/"), "10.0.0.2", "https", trusted), true);
  assert.equal(cameOverTls(new URL("http://x/"), "192.0.2.1", "https", trusted), false);
  assert.equal(cameOverTls(new URL("https://x/"), null, null, trusted), true);
});
