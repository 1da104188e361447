/**
 * Reading the audit log, for the admin page, its export and GET /api/audit:
 * newest or oldest first, filtered, and paged by id (`before` / `after`), which the primary key
 * serves however long the log grows — no OFFSET that reads every row it skips.
 * Callers check that the reader is a site admin.
 */
import { sql } from "kysely";
import type { AuditEntry } from "../db/schema.ts";
import type { Services } from "../services.ts";

export interface AuditFilter {
  /** Part of the user's email, any case. */
  user?: string;
  /** The user's whole email, any case. */
  userEmail?: string;
  /** Start of the event name (`login`, `rows.`). */
  event?: string;
  door?: string;
  outcome?: string;
  /** Entries at or after / before these times. */
  from?: Date;
  to?: Date;
  /** Entries older than this id: the next page after a page that ended at it. */
  before?: number;
  /** Entries newer than this id: the next page of an oldest-first read. */
  after?: number;
  /** `newest` (the default) or `oldest` first. */
  order?: AuditOrder;
}

export type AuditOrder = "newest" | "oldest";

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

function matching(svc: Services, filter: AuditFilter) {
  let query = svc.db.selectFrom("audit_log").selectAll()
    .orderBy("id", filter.order === "oldest" ? "asc" : "desc");
  if (filter.user) {
    query = query.where(
      sql`lower(user_email)`,
      "like",
      `%${escapeLike(filter.user.toLowerCase())}%`,
    );
  }
  if (filter.userEmail) {
    query = query.where(sql`lower(user_email)`, "=", filter.userEmail.toLowerCase());
  }
  if (filter.event) query = query.where("event", "like", `${escapeLike(filter.event)}%`);
  if (filter.door) query = query.where("door", "=", filter.door);
  if (filter.outcome) query = query.where("outcome", "=", filter.outcome);
  if (filter.from) query = query.where("at", ">=", filter.from);
  if (filter.to) query = query.where("at", "<", filter.to);
  if (filter.before !== undefined) query = query.where("id", "<", filter.before);
  if (filter.after !== undefined) query = query.where("id", ">", filter.after);
  return query;
}

/**
 * One page of entries, and the cursor of the next page (null at the end):
 * its `before` newest first, its `after` oldest first.
 */
export async function searchAudit(
  svc: Services,
  filter: AuditFilter,
  limit: number,
): Promise<{ entries: AuditEntry[]; next: number | null }> {
  await svc.audit.flush();
  const entries = await matching(svc, filter).limit(limit + 1).execute();
  const more = entries.length > limit;
  if (more) entries.pop();
  return { entries, next: more ? entries.at(-1)!.id : null };
}

/** The filter of the page after one whose cursor was `next`. */
function nextPage(filter: AuditFilter, next: number): AuditFilter {
  return filter.order === "oldest" ? { ...filter, after: next } : { ...filter, before: next };
}

/** Every matching entry, in the filter's order, a batch at a time (exports of any size). */
export async function* auditEntries(
  svc: Services,
  filter: AuditFilter,
  batch = 1000,
): AsyncGenerator<AuditEntry[]> {
  for (let page = filter;;) {
    const { entries, next } = await searchAudit(svc, page, batch);
    if (entries.length) yield entries;
    if (next === null) return;
    page = nextPage(page, next);
  }
}
