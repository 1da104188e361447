import assert from "node:assert/strict";
import { isDatabaseUnavailable } from "../../src/errors.ts";

Deno.test("isDatabaseUnavailable() tells a lost database from a failed statement", () => {
  const unavailable = [
    Object.assign(new Error("terminating connection due to unexpected postmaster exit"), {
      code: "57P01",
    }),
    Object.assign(new Error("the database system is starting up"), { code: "57P03" }),
    Object.assign(new Error("the database system is in recovery mode"), { code: "57P03" }),
    Object.assign(new Error("connection failure"), { code: "08006" }),
    Object.assign(new Error("Connection refused (os error 111)"), { name: "ConnectionRefused" }),
    Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    new Error("Connection terminated unexpectedly"),
    new Error("Client has encountered a connection error and is not queryable"),
    new Error("wrapped", { cause: Object.assign(new Error("x"), { code: "57P02" }) }),
  ];
  for (const error of unavailable) assert.equal(isDatabaseUnavailable(error), true, error.message);
  const failed = [
    Object.assign(new Error("duplicate key"), { code: "23505" }),
    Object.assign(new Error("canceling statement due to statement timeout"), { code: "57014" }),
    new Error("Something else"),
    null,
    "text",
  ];
  for (const error of failed) assert.equal(isDatabaseUnavailable(error), false, String(error));
});
