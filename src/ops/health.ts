import { sql } from "kysely";
import type { Services } from "../services.ts";

/** Resolves when the database answers a query; throws when it does not. */
export async function pingDatabase(svc: Services): Promise<void> {
  await sql`select 1`.execute(svc.db);
}
