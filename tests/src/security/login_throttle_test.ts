import assert from "node:assert/strict";
import { LoginThrottle } from "../../../src/security/login_throttle.ts";
import { backendTest } from "../../_support/backends.ts";

backendTest("LoginThrottle backs off after the free failures, on every instance", async (t) => {
  let now = Date.parse("2026-12-07T10:00:00Z");
  const options = { windowMs: 15 * 60_000, now: () => new Date(now) };
  const one = new LoginThrottle(t.svc.db, options);
  const other = new LoginThrottle(t.svc.db, options);
  const rule = [{ key: "addr:192.0.2.1", free: 2 }];
  await one.fail(["addr:192.0.2.1"]);
  assert.equal(await other.waitMs(rule), 0);
  await other.fail(["addr:192.0.2.1"]);
  assert.equal(await one.waitMs(rule), 1000, "the second instance's failure counts on the first");
  await one.fail(["addr:192.0.2.1"]);
  assert.equal(await other.waitMs(rule), 2000);
  now += 1500;
  assert.equal(await other.waitMs(rule), 500);
  for (let i = 0; i < 20; i++) await one.fail(["addr:192.0.2.1"]);
  assert.equal(await one.waitMs(rule), options.windowMs, "never longer than the window");
  assert.equal(await one.waitMs([{ key: "addr:192.0.2.2", free: 2 }]), 0);
  now += options.windowMs;
  assert.equal(await one.waitMs(rule), 0, "a window without failures forgets them");
  await one.fail(["addr:192.0.2.1"]);
  assert.deepEqual([...(await other.failures(["addr:192.0.2.1"])).values()].map((f) => f.count), [
    1,
  ]);
  await other.clear(["addr:192.0.2.1"]);
  assert.equal((await one.failures(["addr:192.0.2.1"])).size, 0);
});
