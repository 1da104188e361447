import assert from "node:assert/strict";
import { CredentialCache } from "../../../src/security/credential_cache.ts";

Deno.test("CredentialCache.get() keeps an answer for ttlMs, then asks again", async () => {
  const cache = new CredentialCache<string>(1_000);
  let loads = 0;
  const load = () => Promise.resolve(`v${++loads}`);
  assert.equal(await cache.get("a", 0, load), "v1");
  assert.equal(await cache.get("a", 999, load), "v1");
  assert.equal(await cache.get("a", 1_000, load), "v2");
  assert.equal(await cache.get("a", 500, load), "v3", "a clock that went back asks again");
  assert.equal(await cache.get("a", 600, load, () => false), "v4", "a stale entry asks again");
});

Deno.test("CredentialCache.drop() forgets one entry or all", async () => {
  const cache = new CredentialCache<string>(1_000);
  let loads = 0;
  const load = () => Promise.resolve(`v${++loads}`);
  await cache.get("a", 0, load);
  await cache.get("b", 0, load);
  cache.drop("a");
  assert.equal(await cache.get("a", 1, load), "v3");
  assert.equal(await cache.get("b", 1, load), "v2");
  cache.drop();
  assert.equal(await cache.get("b", 2, load), "v4");
  cache.dropWhere((v) => v === "v4");
  assert.equal(await cache.get("b", 3, load), "v5");
});

Deno.test("CredentialCache.get() does not store a lookup that was under way during a drop", async () => {
  const cache = new CredentialCache<string>(1_000);
  let release!: (value: string) => void;
  const slow = cache.get("a", 0, () => new Promise((resolve) => release = resolve));
  cache.drop("a"); // e.g. the token is revoked while its old row is being read
  release("before the revocation");
  assert.equal(await slow, "before the revocation");
  assert.equal(await cache.get("a", 1, () => Promise.resolve("after")), "after");
  assert.equal(await cache.get("a", 2, () => Promise.resolve("unused")), "after");
});

Deno.test("CredentialCache.get() does not store misses", async () => {
  const cache = new CredentialCache<string>(1_000);
  assert.equal(await cache.get("a", 0, () => Promise.resolve(null)), null);
  assert.equal(await cache.get("a", 1, () => Promise.resolve("now")), "now");
});
