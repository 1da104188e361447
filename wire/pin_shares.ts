/**
 * Fair shares of the backend pool. A client that opens a transaction (or
 * WITH HOLD cursors, or SQL PREPARE) keeps its backend across its think
 * time, and nobody else can use it meanwhile; each user may hold only so
 * many backends that way, and all users together one fewer than the pool,
 * so idle transactions can take neither the pool from other users nor the
 * last backend from sign-ins and autocommit statements. Past a share, the
 * statement that would hold one more waits for a bounded time, and then
 * fails with a clear error instead of blocking. The same shares, with no
 * total, bound the statements one user runs at once (`maxStatementsPerUser`).
 */
import { SqlState, WireError } from "./protocol/errors.ts";

interface Waiter {
  userId: number;
  resolve(): void;
}

interface PinLimits {
  /** Backends one user may hold. */
  perUser(): number;
  /** Backends all users together may hold. */
  total(): number;
  /** How long a statement waits for a share. */
  waitMs(): number;
  /** The error after a wait that got no share, when not the pinned backends' own. */
  exhausted?(held: number, perUser: number, waitMs: number): WireError;
}

export class PinShares {
  readonly #limits: PinLimits;
  /** Backends held per user id. */
  readonly #held = new Map<number, number>();
  #total = 0;
  /** Oldest first. */
  #waiters: Waiter[] = [];

  /** The limits are read at each use, so a settings change applies at once. */
  constructor(limits: PinLimits) {
    this.#limits = limits;
  }

  /** Takes one of the user's shares, if one is left. */
  take(userId: number): boolean {
    if (!this.#free(userId)) return false;
    this.add(userId);
    return true;
  }

  #free(userId: number): boolean {
    return (this.#held.get(userId) ?? 0) < this.#limits.perUser() &&
      this.#total < this.#limits.total();
  }

  /** Counts a backend the user came to hold without asking (a transaction begun mid-batch). */
  add(userId: number): void {
    this.#held.set(userId, (this.#held.get(userId) ?? 0) + 1);
    this.#total++;
  }

  /** A backend the user held is free again: the oldest waiter who may take it gets it. */
  give(userId: number): void {
    const held = (this.#held.get(userId) ?? 1) - 1;
    if (held) this.#held.set(userId, held);
    else this.#held.delete(userId);
    this.#total--;
    const waiter = this.#waiters.find((w) => this.#free(w.userId));
    if (waiter) {
      this.add(waiter.userId);
      waiter.resolve();
    }
  }

  /**
   * Waits for one of the user's shares. Rejects with 53300 once the wait
   * is over, with 57014 when `signal` fires (a cancel request).
   */
  wait(userId: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const waitMs = this.#limits.waitMs();
      const leave = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", abort);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      const waiter: Waiter = {
        userId,
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
      this.#waiters.push(waiter);
    });
  }

  #exhausted(userId: number, waitMs: number): WireError {
    const held = this.#held.get(userId) ?? 0;
    const perUser = this.#limits.perUser();
    if (this.#limits.exhausted) return this.#limits.exhausted(held, perUser, waitMs);
    const waited = `none was given back within ${waitMs / 1000} s`;
    if (held >= perUser) {
      return new WireError(
        SqlState.TooManyConnections,
        `Your connections hold ${held} of the SQL door's database sessions in open transactions, ` +
          `and one user may hold ${perUser}: ${waited}`,
        {
          hint: "Commit or roll back the transactions your other connections keep open " +
            "(psycopg2 and JDBC open one at the first statement unless autocommit is on). " +
            `The limit is the sql_door setting maxPinnedBackendsPerUser (${perUser} here).`,
        },
      );
    }
    return new WireError(
      SqlState.TooManyConnections,
      `All ${this.#limits.total()} of the SQL door's database sessions that may hold a ` +
        `transaction are in open transactions: ${waited}`,
      {
        hint: "Try again shortly, or run with autocommit on. One session is always kept for " +
          "sign-ins and single statements; the pool is the sql_door setting backendConnections.",
      },
    );
  }
}
