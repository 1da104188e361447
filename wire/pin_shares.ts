/**
 * Fair shares of the backend pool. A client that opens a transaction (or
 * WITH HOLD cursors, or SQL PREPARE) keeps its backend across its think
 * time, and nobody else can use it meanwhile; each user may hold only so
 * many backends that way, so one user's idle transactions cannot take the
 * pool from everyone else. Past the share, the statement that would hold one
 * more waits for one of the user's own to end, for a bounded time, and then
 * fails with a clear error instead of blocking.
 */
import { SqlState, WireError } from "./errors.ts";

interface Waiter {
  resolve(): void;
}

export class PinShares {
  readonly #limit: () => number;
  readonly #waitMs: () => number;
  /** Backends held per user id. */
  readonly #held = new Map<number, number>();
  /** Per user id, oldest first. */
  readonly #waiters = new Map<number, Waiter[]>();

  /** Both are read at each use, so a settings change applies at once. */
  constructor(options: { limit: () => number; waitMs: () => number }) {
    this.#limit = options.limit;
    this.#waitMs = options.waitMs;
  }

  /** Takes one of the user's shares, if one is left. */
  take(userId: number): boolean {
    if ((this.#held.get(userId) ?? 0) >= this.#limit()) return false;
    this.add(userId);
    return true;
  }

  /** Counts a backend the user came to hold without asking (a transaction begun mid-batch). */
  add(userId: number): void {
    this.#held.set(userId, (this.#held.get(userId) ?? 0) + 1);
  }

  /** A backend the user held is free again: the user's oldest waiter gets the share. */
  give(userId: number): void {
    const held = (this.#held.get(userId) ?? 1) - 1;
    if (held) this.#held.set(userId, held);
    else this.#held.delete(userId);
    const waiters = this.#waiters.get(userId);
    if (waiters?.length && this.take(userId)) {
      const waiter = waiters.shift()!;
      if (!waiters.length) this.#waiters.delete(userId);
      waiter.resolve();
    }
  }

  /**
   * Waits for one of the user's shares. Rejects with 53300 once the wait
   * is over, with 57014 when `signal` fires (a cancel request).
   */
  wait(userId: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const waitMs = this.#waitMs();
      const leave = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", abort);
        const waiters = this.#waiters.get(userId) ?? [];
        const index = waiters.indexOf(waiter);
        if (index >= 0) waiters.splice(index, 1);
        if (!waiters.length) this.#waiters.delete(userId);
      };
      const waiter: Waiter = {
        resolve: () => {
          leave();
          resolve();
        },
      };
      const abort = () => {
        leave();
        reject(new WireError(SqlState.QueryCanceled, "Canceling statement due to user request"));
      };
      const timer = setTimeout(() => {
        leave();
        reject(this.#exhausted(userId, waitMs));
      }, waitMs);
      if (signal.aborted) return abort();
      signal.addEventListener("abort", abort, { once: true });
      const waiters = this.#waiters.get(userId);
      if (waiters) waiters.push(waiter);
      else this.#waiters.set(userId, [waiter]);
    });
  }

  #exhausted(userId: number, waitMs: number): WireError {
    const limit = this.#limit();
    return new WireError(
      SqlState.TooManyConnections,
      `Your connections hold ${
        this.#held.get(userId) ?? 0
      } of the SQL door's database sessions in open transactions, and one user may hold ${limit}: ` +
        `none was given back within ${waitMs / 1000} s`,
      {
        hint: "Commit or roll back the transactions your other connections keep open " +
          "(psycopg2 and JDBC open one at the first statement unless autocommit is on). " +
          `The limit is the sql_door setting maxPinnedBackendsPerUser (${limit} here).`,
      },
    );
  }
}
