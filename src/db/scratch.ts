import pg from "pg";
import { type Database, openDatabase } from "./mod.ts";

/**
 * A new database on the PostgreSQL server at `serverUrl`, migrated, and how to
 * drop it (and the folder roles it made) afterwards. Tests and benchmarks use it.
 */
export async function scratchPostgresDatabase(
  serverUrl: string,
  options: { prefix: string; poolSize?: number },
): Promise<{ database: Database; url: string; dispose: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const name = `${options.prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await admin.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let database: Database;
  try {
    database = await openDatabase({ url: url.toString(), poolSize: options.poolSize });
  } catch (error) {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    throw error;
  }
  return {
    database,
    url: url.toString(),
    dispose: async () => {
      await database.close();
      try {
        // Wait for the pool's sessions to leave so nothing is killed mid-close.
        for (let i = 0; i < 50; i++) {
          const { rows } = await admin.query(
            `select count(*)::int as n from pg_stat_activity where datname = $1`,
            [name],
          );
          if (rows[0].n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await admin.query(`drop database if exists ${name} with (force)`);
        const roles = await admin.query<{ rolname: string }>(
          `select rolname from pg_roles where rolname like $1`,
          [`lg\\_${database.installId}\\_%`],
        );
        for (const { rolname } of roles.rows) await admin.query(`drop role if exists ${rolname}`);
      } finally {
        await admin.end();
      }
    },
  };
}
