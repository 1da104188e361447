/** The SQL sandbox's shadow catalog as the catalog sweeps read it. */
import { sql } from "kysely";
import type { TestContext } from "../_support/backends.ts";

/** Every shadow view, as the client names it (`pg_catalog.pg_class`). */
export async function shadowViews(t: TestContext): Promise<string[]> {
  return (await sql<{ name: string }>`
    select case n.nspname when 'lg_catalog' then 'pg_catalog'
      when 'lg_information_schema' then 'information_schema' else n.nspname end
      || '.' || c.relname as name
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('lg_catalog', 'lg_information_schema', 'core') and c.relkind = 'v'
    order by 1`.execute(t.svc.database.root)).rows.map((r) => r.name);
}
