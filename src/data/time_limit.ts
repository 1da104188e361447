/**
 * The statement time limit of the HTTP doors' own heavy queries (row reads
 * and filters of the JSON API, list pages, token actions and LabKey
 * selectRows; LabKey executeSql sets its own in its transaction). On PostgreSQL each runs in
 * a transaction with SET LOCAL statement_timeout, so the engine cancels it;
 * the caller gets a 503 that names the limit. (The embedded database cannot
 * be interrupted from its own thread: there the queries run as they are.)
 */
import { type Kysely, sql } from "kysely";
import type { Schema } from "../db/schema.ts";
import { LabgateError } from "../errors.ts";
import type { Services } from "../services.ts";

/** The 503 for a query canceled at its time limit. */
export function timedOut(ms: number): LabgateError {
  return new LabgateError(
    503,
    `The query ran longer than the ${
      ms / 1000
    } s one statement may run, and was canceled: narrow the filters or read fewer rows at a time ` +
      `(the limit is the sql_door setting statementTimeoutSeconds, or your own or your API key's, set by an admin)`,
  );
}

/** Whether `error` is PostgreSQL's cancel of a statement (57014). */
export function isCanceled(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === "57014";
}

/**
 * Runs `work` with every statement in it limited to `ms` (none when
 * undefined). On PostgreSQL `work` gets a transaction; pass `trx` on to
 * SET further locals (a role) in it.
 */
export async function withTimeLimit<T>(
  svc: Services,
  ms: number | undefined,
  work: (db: Kysely<Schema>) => Promise<T>,
): Promise<T> {
  const root = svc.database.root;
  if (ms === undefined || svc.database.kind !== "postgres") return await work(root);
  try {
    // BEGIN, this SET and COMMIT: three round trips more than the query alone.
    return await root.transaction().execute(async (trx) => {
      const limit = String(Math.max(1, Math.floor(ms)));
      await sql`select pg_catalog.set_config('statement_timeout', ${limit}, true)`.execute(trx);
      return await work(trx);
    });
  } catch (error) {
    if (isCanceled(error)) throw timedOut(ms);
    throw error;
  }
}
