/**
 * Backups of labgate's database, for `deno task backup FILE` and
 * `deno task restore FILE`. PostgreSQL: `pg_dump` in its custom format of
 * the whole database (labgate's schemas, every folder's lists, the audit
 * log), restored with `pg_restore` into an empty database on a server that
 * has the folder roles (the same cluster, or one restored with
 * `pg_dumpall --roles-only`). Embedded: PGlite's own data-dir archive
 * (tar.gz), taken with the database open and so consistent: by this task
 * while labgate is stopped (one process at a time may open the data dir), or
 * while it runs by a site admin downloading `/admin/backup.tgz`.
 */
import { APP_SCHEMA, embeddedArchive, openDatabase } from "./mod.ts";
import { createPostgresPool } from "./postgres_driver.ts";

/** What a backup file holds, by its first bytes. */
function kindOf(bytes: Uint8Array): "pg_dump" | "pglite" | null {
  if (new TextDecoder().decode(bytes.subarray(0, 5)) === "PGDMP") return "pg_dump";
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return "pglite";
  return null;
}

async function run(command: string, args: string[]): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${command} is not installed: it comes with the PostgreSQL client tools`);
    }
    throw error;
  }
  if (!output.success) {
    throw new Error(`${command} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
}

interface BackupTarget {
  url?: string;
  dataDir: string;
}

/** Writes a backup of the database to `file`. */
export async function backupDatabase(target: BackupTarget, file: string): Promise<void> {
  if (target.url) {
    await run("pg_dump", ["--format=custom", "--file", file, "--dbname", target.url]);
    return;
  }
  const database = await openDatabase({ dataDir: target.dataDir });
  try {
    const archive = await embeddedArchive(database);
    await Deno.writeFile(file, new Uint8Array(await archive.arrayBuffer()));
  } finally {
    await database.close();
  }
}

/**
 * Restores `file` into an empty database (PostgreSQL: no `lg_app` schema yet;
 * embedded: an empty or new data dir). Never over existing data.
 */
export async function restoreDatabase(target: BackupTarget, file: string): Promise<void> {
  const bytes = await Deno.readFile(file);
  const kind = kindOf(bytes);
  if (!kind) throw new Error(`${file} is not a labgate backup (pg_dump or embedded archive)`);
  if (target.url) {
    if (kind !== "pg_dump") {
      throw new Error(
        `${file} is a backup of an embedded database: restore it with LABGATE_DATA_DIR`,
      );
    }
    await requireEmptyPostgres(target.url);
    await run("pg_restore", ["--exit-on-error", "--dbname", target.url, file]);
    return;
  }
  if (kind !== "pglite") {
    throw new Error(`${file} is a PostgreSQL backup: restore it with DATABASE_URL`);
  }
  const entries = await Array.fromAsync(Deno.readDir(target.dataDir)).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  });
  if (entries.length) {
    throw new Error(`${target.dataDir} is not empty: restore into a new data dir`);
  }
  const database = await openDatabase({ dataDir: target.dataDir, loadDataDir: new Blob([bytes]) });
  await database.close();
}

/** Refuses a database that labgate (or a restore) has already been at. */
async function requireEmptyPostgres(url: string): Promise<void> {
  const pool = createPostgresPool(url, 1);
  try {
    const { rows } = await pool.query(
      "select count(*)::int as n from pg_catalog.pg_namespace where nspname = $1",
      [APP_SCHEMA],
    );
    if (rows[0].n) {
      throw new Error("The database already holds labgate data: restore into an empty one");
    }
  } finally {
    await pool.end();
  }
}
