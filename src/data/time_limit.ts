/**
 * The statement time limit of the HTTP doors' own heavy queries (row reads
 * and filters of the JSON API, list pages, token actions and LabKey
 * selectRows; LabKey executeSql sets its own in its transaction). On PostgreSQL each runs in
 * a transaction with SET LOCAL statement_timeout, so the engine cancels it;
 * the caller gets a 503 that names the limit. The embedded database runs
 * them on a handle with that limit, past which its thread is restarted.
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
  if (ms === undefined) return await work(root);
  if (svc.database.kind !== "postgres") {
    // The embedded database stops a statement past its limit by restarting its thread.
    const limited = svc.database.limitedRoot?.(Math.max(1, Math.floor(ms))) ?? root;
    try {
      return await work(limited);
    } catch (error) {
      if (isCanceled(error)) throw timedOut(ms);
      throw error;
    }
  }
  const limit = Math.max(1, Math.floor(ms));
  try {
    // One round trip opens the transaction with its limit (a simple query of two statements),
    // one ends it: a Kysely transaction would take three, which halved selectRows' throughput.
    return await root.connection().execute(async (db) => {
      await sql.raw(`begin; set local statement_timeout = ${limit}`).execute(db);
      try {
        const result = await work(db);
        await sql.raw("commit").execute(db);
        return result;
      } catch (error) {
        await sql.raw("rollback").execute(db).catch(() => {});
        throw error;
      }
    });
  } catch (error) {
    if (isCanceled(error)) throw timedOut(ms);
    throw error;
  }
}
