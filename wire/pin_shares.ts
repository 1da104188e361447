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
  /** Order of arrival, across users. */
  seq: number;
  /** performance.now() past which the wait fails. */
  deadline: number;
  waitMs: number;
  resolve(): void;
  reject(error: WireError): void;
  signal: AbortSignal;
  onAbort(): void;
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

/**
 * The statement shares are taken and given for every statement of a busy
 * user, so waiting costs little per waiter: a queue per user (whose head is
 * its oldest waiter, so finding the oldest waiter who may take a share looks
 * at one waiter per user), and one timer for them all, armed for the
 * earliest deadline, instead of one per wait.
 */
export class PinShares {
  readonly #limits: PinLimits;
  /** Backends held per user id. */
  readonly #held = new Map<number, number>();
  #total = 0;
  /** Waiters per user id, oldest first; a user without waiters has no entry. */
  readonly #waiting = new Map<number, Waiter[]>();
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When #timer fires. */
  #timerAt = Infinity;

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
    if (!this.#waiting.size) return;
    const waiter = this.#oldestFree();
    if (!waiter) return;
    this.#leave(waiter);
    this.add(waiter.userId);
    waiter.resolve();
  }

  #oldestFree(): Waiter | undefined {
    let oldest: Waiter | undefined;
    for (const [userId, queue] of this.#waiting) {
      if ((!oldest || queue[0].seq < oldest.seq) && this.#free(userId)) oldest = queue[0];
    }
    return oldest;
  }

  /**
   * Waits for one of the user's shares. Rejects with 53300 once the wait
   * is over, with 57014 when `signal` fires (a cancel request).
   */
  wait(userId: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(canceled());
      const waitMs = this.#limits.waitMs();
      const waiter: Waiter = {
        userId,
        seq: this.#seq++,
        deadline: performance.now() + waitMs,
        waitMs,
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#leave(waiter);
          reject(canceled());
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      const queue = this.#waiting.get(userId);
      if (queue) queue.push(waiter);
      else this.#waiting.set(userId, [waiter]);
      if (waiter.deadline < this.#timerAt) this.#arm(waiter.deadline);
    });
  }

  #leave(waiter: Waiter): void {
    waiter.signal.removeEventListener("abort", waiter.onAbort);
    const queue = this.#waiting.get(waiter.userId)!;
    if (queue[0] === waiter) queue.shift();
    else queue.splice(queue.indexOf(waiter), 1);
    if (!queue.length) this.#waiting.delete(waiter.userId);
    if (!this.#waiting.size) this.#arm(Infinity);
  }

  /** The one timer: fires at `at` (never, for Infinity). */
  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Infinity) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, at - performance.now()));
  }

  /** Fails the waits that are over; the timer goes on for the earliest of the others. */
  #expire(): void {
    const now = performance.now();
    let next = Infinity;
    const over: Waiter[] = [];
    for (const queue of this.#waiting.values()) {
      for (const waiter of queue) {
        if (waiter.deadline <= now) over.push(waiter);
        else next = Math.min(next, waiter.deadline);
      }
    }
    this.#timerAt = Infinity;
    for (const waiter of over) {
      this.#leave(waiter);
      waiter.reject(this.#exhausted(waiter.userId, waiter.waitMs));
    }
    this.#arm(this.#waiting.size ? next : Infinity);
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

function canceled(): WireError {
  return new WireError(SqlState.QueryCanceled, "Canceling statement due to user request");
}
