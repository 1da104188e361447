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

Deno.test("lockDataDir() says so when the data directory is read-only, and changes nothing", async () => {
  const mountPoint = await Deno.makeTempDir({ prefix: "labgate-readonly-" });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!mounted.success) {
    await Deno.remove(mountPoint);
    return console.log("SKIPPED: mounting a tmpfs is not permitted here (run as root to test)");
  }
  try {
    await Deno.writeTextFile(`${mountPoint}/PG_VERSION`, "17\n");
    await new Deno.Command("mount", { args: ["-o", "remount,ro", mountPoint] }).output();
    await assert.rejects(
      lockDataDir(mountPoint),
      /data directory .* cannot be written \(.*\): .* mounted read-write/,
    );
    assert.deepEqual([...Deno.readDirSync(mountPoint)].map((e) => e.name), ["PG_VERSION"]);
  } finally {
    await new Deno.Command("umount", { args: [mountPoint] }).output();
    await Deno.remove(mountPoint);
  }
});
