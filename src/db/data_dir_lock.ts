/**
 * The embedded database serves one process: two PGlite instances on one
 * data directory would corrupt it. The first labgate to open the directory
 * holds an OS lock on `labgate.lock` in it (released by the OS when the
 * process ends, so a crash leaves no stale lock) and writes its pid there
 * for the message the next one gets.
 */
const LOCK_FILE = "labgate.lock";

export interface DataDirLock {
  release(): void;
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = `${dataDir}/${LOCK_FILE}`;
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(dataDir, { recursive: true });
    file = await Deno.open(path, { read: true, write: true, create: true });
  } catch (error) {
    // Before the database is touched: nothing in it is changed.
    throw new Error(
      `The data directory ${dataDir} cannot be written (${(error as Error).message}): the ` +
        `embedded database needs to write there — check that its file system is mounted ` +
        `read-write and that labgate's user may write to it`,
    );
  }
  if (!await file.tryLock(true)) {
    file.close();
    const pid = (await Deno.readTextFile(path).catch(() => "")).trim();
    throw new Error(
      `The data directory ${dataDir} is in use by another labgate process${
        pid ? ` (pid ${pid})` : ""
      }; the embedded database serves one instance — stop that process, or use DATABASE_URL ` +
        `(PostgreSQL) to run several`,
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return {
    release() {
      file.close();
    },
  };
}
