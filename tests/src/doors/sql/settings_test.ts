import assert from "node:assert/strict";
import type { LabgateError } from "../../../../src/errors.ts";
import {
  secretTransportAllowed,
  sqlDoorLimit,
  sqlDoorSettings,
} from "../../../../src/doors/sql/settings.ts";

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

Deno.test("secretTransportAllowed() takes a secret inside TLS, without TLS only from loopback when allowed", () => {
  const allowed = { allowLoopbackCleartext: true };
  const refused = { allowLoopbackCleartext: false };
  for (const clientAddr of ["127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.2", null]) {
    assert.equal(
      secretTransportAllowed(refused, { tls: true, clientAddr }),
      true,
      String(clientAddr),
    );
    assert.equal(
      secretTransportAllowed(refused, { tls: false, clientAddr }),
      false,
      String(clientAddr),
    );
  }
  for (const clientAddr of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
    assert.equal(secretTransportAllowed(allowed, { tls: false, clientAddr }), true, clientAddr);
  }
  for (const clientAddr of ["10.0.0.2", "::ffff:10.0.0.2", "", null]) {
    assert.equal(
      secretTransportAllowed(allowed, { tls: false, clientAddr }),
      false,
      String(clientAddr),
    );
  }
});

Deno.test("sqlDoorSettings.validate() refuses a blank limit instead of reading it as 0", () => {
  // 0 turns the result limits off: an emptied form field must not do that.
  for (const key of ["maxResultRows", "maxResultBytes", "statementWaitSeconds"] as const) {
    assert.throws(
      () => sqlDoorSettings.validate({ [key]: " " }),
      (error: LabgateError) => {
        assert.match(error.message, /must be a whole number from 0 to \d+, got " "/);
        assert.deepEqual(error.details, { field: key });
        return true;
      },
    );
  }
  assert.equal(sqlDoorSettings.validate({ maxResultRows: "0" }).maxResultRows, 0);
});

Deno.test("sqlDoorSettings.validate() names the refused setting in the error's details", () => {
  assert.throws(
    () => sqlDoorSettings.validate({ maxStatementsPerUser: 0 }),
    (error: LabgateError) => {
      assert.match(error.message, /^Statements one user may run at once must be a whole number/);
      assert.deepEqual(error.details, { field: "maxStatementsPerUser" });
      return true;
    },
  );
  assert.throws(
    () => sqlDoorSettings.validate({ hostOverride: "db.lab.example:5435" }),
    (error: LabgateError) => {
      assert.deepEqual(error.details, { field: "hostOverride" });
      return true;
    },
  );
});

Deno.test("sqlDoorLimit() gives a limit's label and range, as validate() checks them", () => {
  assert.deepEqual(sqlDoorLimit("maxStatementsPerUser"), {
    label: "Statements one user may run at once",
    min: 1,
    max: 10_000,
  });
  assert.equal(sqlDoorLimit("maxResultRows").min, 0);
});
