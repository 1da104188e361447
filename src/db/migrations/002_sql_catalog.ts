import type { Kysely } from "kysely";
import { installShadowCatalog } from "../../sql/catalog.ts";

/** The SQL door's shadow catalog and core views (see src/sql/catalog.ts). */
// deno-lint-ignore no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await installShadowCatalog(db);
}
