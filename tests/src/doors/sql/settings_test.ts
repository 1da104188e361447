import assert from "node:assert/strict";
import { sqlDoorSettings } from "../../../../src/doors/sql/settings.ts";

Deno.test("sqlDoorSettings.validate() gives the fairness and sign-in limits their defaults", () => {
  const settings = sqlDoorSettings.validate({ enabled: true });
  assert.equal(settings.idleInTransactionSeconds, 60);
  assert.equal(settings.maxPinnedBackendsPerUser, 5);
  assert.equal(settings.pinWaitSeconds, 5);
  assert.equal(settings.startupTimeoutSeconds, 10);
  assert.equal(settings.maxUnauthenticatedPerAddress, 100);
});

Deno.test("sqlDoorSettings.validate() refuses fairness and sign-in limits out of range", () => {
  for (
    const [key, value] of [
      ["maxPinnedBackendsPerUser", 0],
      ["pinWaitSeconds", -1],
      ["startupTimeoutSeconds", 0],
      ["maxUnauthenticatedPerAddress", 0],
    ] as const
  ) {
    assert.throws(() => sqlDoorSettings.validate({ [key]: value }), /must be a whole number/);
  }
  assert.equal(sqlDoorSettings.validate({ pinWaitSeconds: 0 }).pinWaitSeconds, 0);
});
