/**
 * The statement time limit of the HTTP doors' own heavy queries (row reads
 * and filters of the JSON API, list pages, token actions and LabKey
 * selectRows; LabKey executeSql sets its own in its transaction). On PostgreSQL each runs on
 * a connection whose statement_timeout is that limit, so the engine cancels
 * it; the caller gets a 503 that names the limit. The embedded database runs
 * them on a handle with that limit, past which its thread is restarted.
 */
import type { Kysely } from "kysely";
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
 * undefined). `work` gets `root` under that limit (`Database.limitedRoot`),
 * not a transaction: on PostgreSQL the limit is its connections' own
 * statement_timeout, so a read at the limit most reads share (the site's)
 * costs no round trip besides its own statements.
 */
export async function withTimeLimit<T>(
  svc: Services,
  ms: number | undefined,
  work: (db: Kysely<Schema>) => Promise<T>,
): Promise<T> {
  if (ms === undefined) return await work(svc.database.root);
  try {
    return await work(svc.database.limitedRoot(Math.max(1, Math.floor(ms))));
  } catch (error) {
    if (isCanceled(error)) throw timedOut(ms);
    throw error;
  }
}
