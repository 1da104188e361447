import assert from "node:assert/strict";
import { lockDataDir } from "../../../src/db/data_dir_lock.ts";

Deno.test("lockDataDir() refuses a data directory another labgate holds, then takes it over", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "labgate-lock-" });
  try {
    const first = await lockDataDir(dataDir);
    try {
      await assert.rejects(
        lockDataDir(dataDir),
        new RegExp(
          `data directory .* is in use by another labgate process \\(pid ${Deno.pid}\\); ` +
            `the embedded database serves one instance .* use DATABASE_URL`,
        ),
      );
    } finally {
      first.release();
    }
    // Released (by the OS, too, when a process dies): the next one takes it.
    (await lockDataDir(dataDir)).release();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
