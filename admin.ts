/**
 * Operator commands on the server: `deno task backup FILE`, `deno task
 * restore FILE` and `deno task admin <command>` (see src/app/admin.ts). They
 * read the same environment as main.ts (DATABASE_URL or LABGATE_DATA_DIR).
 */
import { loadConfig } from "./src/config.ts";
import { backupDatabase, restoreDatabase } from "./src/db/backup.ts";
import { LabgateError } from "./src/errors.ts";
import { ADMIN_USAGE, runAdminCommand } from "./src/app/admin.ts";
import { openWhenReachable } from "./src/app/assemble.ts";
import { createServices } from "./src/services.ts";

async function main(args: string[]): Promise<number> {
  const config = loadConfig(Deno.env.toObject());
  const target = { url: config.databaseUrl, dataDir: config.dataDir };
  const [command, ...rest] = args;
  if (command === "backup" || command === "restore") {
    const file = rest[0];
    if (!file) throw new LabgateError(400, `Usage: deno task ${command} FILE`);
    if (command === "backup") await backupDatabase(target, file);
    else await restoreDatabase(target, file);
    console.log(`labgate: ${command === "backup" ? "backed up to" : "restored from"} ${file}`);
    return 0;
  }
  if (command !== "admin") throw new LabgateError(400, ADMIN_USAGE);
  // An operator at the terminal: the clear message at once, no waiting for the server.
  const database = await openWhenReachable({ ...config, databaseWaitSeconds: 0 });
  const svc = createServices(config, database);
  try {
    console.log(await runAdminCommand(svc, rest));
    return 0;
  } finally {
    await svc.audit.flush();
    await database.close();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    // The operator's to fix: say what, without a stack trace.
    console.error(`labgate: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
