import pg from "pg";
import { type Database, openDatabase } from "./mod.ts";

/**
 * A new database on the PostgreSQL server at `serverUrl`, migrated, and how to
 * drop it (and the folder roles it made) afterwards. Tests and benchmarks use it.
 * With `template` (a migrated database, e.g. the test run's) it is a copy of
 * it (CREATE DATABASE … TEMPLATE), which is cheaper than migrating.
 */
export async function scratchPostgresDatabase(
  serverUrl: string,
  options: { prefix: string; poolSize?: number; template?: string },
): Promise<{ database: Database; url: string; dispose: () => Promise<void> }> {
  const name = `${options.prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const url = databaseUrl(serverUrl, name);
  const drop = (installId?: string) =>
    onServer(serverUrl, async (admin) => {
      // Wait for the pool's sessions to leave so nothing is killed mid-close.
      for (let i = 0; i < 50 && installId; i++) {
        const { rows } = await admin.query(
          `select count(*)::int as n from pg_stat_activity where datname = $1`,
          [name],
        );
        if (rows[0].n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await admin.query(`drop database if exists ${name} with (force)`);
      if (!installId) return;
      const roles = await admin.query<{ rolname: string }>(
        `select rolname from pg_roles where rolname like $1`,
        [`lg\\_${installId}\\_%`],
      );
      for (const { rolname } of roles.rows) await admin.query(`drop role if exists ${rolname}`);
    });
  let database: Database;
  try {
    const template = options.template ? ` template ${options.template}` : "";
    await onServer(serverUrl, (admin) => admin.query(`create database ${name}${template}`));
    if (options.template) await newInstallId(url);
    database = await openDatabase({ url, poolSize: options.poolSize });
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    database,
    url,
    dispose: async () => {
      await database.close();
      await drop(database.installId);
    },
  };
}

/** `serverUrl` with its database name replaced by `name`. */
function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Gives a database copied from a template the install id of its own that a
 * migrated one would have: folder role names carry it, and roles are
 * cluster-wide.
 */
async function newInstallId(url: string): Promise<void> {
  await onServer(url, (client) =>
    client.query(
      `update lg_app.settings
       set value = to_jsonb(substr(replace(gen_random_uuid()::text, '-', ''), 1, 8))
       where key = 'install_id'`,
    ));
}

/**
 * Runs `fn` on a connection to `serverUrl` opened only for it: a caller holds
 * no connection it does not use (max_connections is shared by every test
 * file running at once).
 */
async function onServer<T>(serverUrl: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}
