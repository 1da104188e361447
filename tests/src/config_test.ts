import assert from "node:assert/strict";
import { loadConfig } from "../../src/config.ts";

Deno.test("loadConfig() takes PORT=0 (any free port) and leaves the SQL door port to the setting", () => {
  const config = loadConfig({ PORT: "0" });
  assert.equal(config.port, 0);
  assert.equal(config.sqlDoorPort, undefined);
});

Deno.test("loadConfig() reads LABGATE_SQL_DOOR_PORT and refuses a bad one", () => {
  assert.equal(loadConfig({ LABGATE_SQL_DOOR_PORT: "0" }).sqlDoorPort, 0);
  assert.equal(loadConfig({ LABGATE_SQL_DOOR_PORT: "6543" }).sqlDoorPort, 6543);
  assert.throws(() => loadConfig({ LABGATE_SQL_DOOR_PORT: "70000" }), /LABGATE_SQL_DOOR_PORT/);
});

Deno.test("loadConfig() reads LABGATE_SQL_DOOR_THREADS, only with PostgreSQL", () => {
  assert.equal(loadConfig({}).sqlDoorThreads, 1);
  const url = "postgres://u@db/labgate";
  assert.equal(loadConfig({ DATABASE_URL: url, LABGATE_SQL_DOOR_THREADS: "4" }).sqlDoorThreads, 4);
  assert.throws(
    () => loadConfig({ LABGATE_SQL_DOOR_THREADS: "2" }),
    /LABGATE_SQL_DOOR_THREADS above 1 needs PostgreSQL/,
  );
  assert.throws(
    () => loadConfig({ DATABASE_URL: url, LABGATE_SQL_DOOR_THREADS: "0" }),
    /LABGATE_SQL_DOOR_THREADS/,
  );
});

Deno.test("loadConfig() reads LABGATE_DATABASE_WAIT_SECONDS, 30 by default", () => {
  assert.equal(loadConfig({}).databaseWaitSeconds, 30);
  assert.equal(loadConfig({ LABGATE_DATABASE_WAIT_SECONDS: "0" }).databaseWaitSeconds, 0);
  assert.throws(() => loadConfig({ LABGATE_DATABASE_WAIT_SECONDS: "-1" }), /whole number/);
});

Deno.test("loadConfig() reads LABGATE_EMBEDDED_PREEMPT_MS and refuses a bad one", () => {
  assert.equal(loadConfig({}).embeddedPreemptMs, 300);
  assert.equal(loadConfig({ LABGATE_EMBEDDED_PREEMPT_MS: "450" }).embeddedPreemptMs, 450);
  assert.throws(
    () => loadConfig({ LABGATE_EMBEDDED_PREEMPT_MS: "0" }),
    /LABGATE_EMBEDDED_PREEMPT_MS/,
  );
});
