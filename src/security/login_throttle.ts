/**
 * Sign-in back-off shared by every instance (rows in `login_throttle`).
 * A key may fail `free` times in the window; after that each attempt must
 * wait 1 s, 2 s, 4 s … after the last failure, up to the whole window. So
 * guessing slows to a trickle while the right password, after a pause, still
 * gets in — nobody can lock an account by failing on purpose. A key's count
 * starts again once it has not failed for a window.
 */
import { type Kysely, sql } from "kysely";
import type { Schema } from "../db/schema.ts";

export interface ThrottleRule {
  key: string;
  /** Failures allowed before the back-off starts. */
  free: number;
}

/** Old rows are deleted at most this often (each instance), on a failure. */
const PRUNE_EVERY_MS = 60_000;

export class LoginThrottle {
  readonly #db: Kysely<Schema>;
  readonly #windowMs: number;
  readonly #now: () => Date;
  #prunedAt = 0;

  constructor(db: Kysely<Schema>, options: { windowMs: number; now?: () => Date }) {
    this.#db = db;
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? (() => new Date());
  }

  /** Failures of each key within the window (keys without any are left out). */
  async failures(keys: string[]): Promise<Map<string, { count: number; last: Date }>> {
    const found = new Map<string, { count: number; last: Date }>();
    if (!keys.length) return found;
    const rows = await this.#db.selectFrom("login_throttle").selectAll()
      .where("key", "in", keys)
      .where("last_failed_at", ">", new Date(this.#now().getTime() - this.#windowMs))
      .execute();
    for (const row of rows) found.set(row.key, { count: row.failures, last: row.last_failed_at });
    return found;
  }

  /** Milliseconds until every rule lets an attempt through (0: now). */
  async waitMs(rules: ThrottleRule[]): Promise<number> {
    const failures = await this.failures(rules.map((r) => r.key));
    return Math.max(0, ...rules.map((rule) => this.#wait(failures.get(rule.key), rule.free)));
  }

  #wait(failed: { count: number; last: Date } | undefined, free: number): number {
    if (!failed || failed.count < free) return 0;
    const delay = Math.min(this.#windowMs, 1000 * 2 ** Math.min(failed.count - free, 30));
    return Math.max(0, failed.last.getTime() + delay - this.#now().getTime());
  }

  /** Counts one failure for each key. */
  async fail(keys: string[]): Promise<void> {
    const now = this.#now();
    const stale = new Date(now.getTime() - this.#windowMs);
    for (const key of keys) {
      await this.#db.insertInto("login_throttle")
        .values({ key, failures: 1, last_failed_at: now })
        .onConflict((oc) =>
          oc.column("key").doUpdateSet({
            failures: sql<number>`case when login_throttle.last_failed_at <= ${stale}
              then 1 else login_throttle.failures + 1 end`,
            last_failed_at: now,
          })
        ).execute();
    }
    if (now.getTime() - this.#prunedAt >= PRUNE_EVERY_MS) {
      this.#prunedAt = now.getTime();
      await this.#db.deleteFrom("login_throttle").where("last_failed_at", "<=", stale).execute();
    }
  }

  /** Forgets the failures of the keys (after a successful sign-in). */
  async clear(keys: string[]): Promise<void> {
    if (keys.length) await this.#db.deleteFrom("login_throttle").where("key", "in", keys).execute();
  }
}
