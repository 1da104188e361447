/**
 * Counts hits per key in a sliding window, in memory (each instance counts
 * its own): for request rates, such as remote-login verifications. Failed
 * sign-ins are counted in the database instead (`login_throttle.ts`).
 */
export class RateLimiter {
  readonly #windowMs: number;
  readonly #now: () => Date;
  /** Hit times per key, oldest first; entries before `head` have left the window. */
  readonly #hits = new Map<string, { times: number[]; head: number }>();

  constructor(options: { windowMs: number; now?: () => Date }) {
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? (() => new Date());
  }

  /** Drops hits older than the window from the front: constant time per hit, however many. */
  #recent(key: string): { times: number[]; head: number } | undefined {
    const entry = this.#hits.get(key);
    if (!entry) return undefined;
    const since = this.#now().getTime() - this.#windowMs;
    while (entry.head < entry.times.length && entry.times[entry.head] <= since) entry.head++;
    if (entry.head === entry.times.length) {
      this.#hits.delete(key);
      return undefined;
    }
    if (entry.head > 1024 && entry.head * 2 > entry.times.length) {
      entry.times = entry.times.slice(entry.head);
      entry.head = 0;
    }
    return entry;
  }

  /** How many failures `key` has in the window. */
  count(key: string): number {
    const entry = this.#recent(key);
    return entry ? entry.times.length - entry.head : 0;
  }

  /** Milliseconds until `key` drops below `limit`, or 0 when it is below now. */
  retryAfterMs(key: string, limit: number): number {
    const entry = this.#recent(key);
    if (!entry || entry.times.length - entry.head < limit) return 0;
    return entry.times[entry.times.length - limit] + this.#windowMs - this.#now().getTime();
  }

  hit(key: string): void {
    const entry = this.#recent(key) ?? { times: [], head: 0 };
    entry.times.push(this.#now().getTime());
    this.#hits.set(key, entry);
  }

  reset(key: string): void {
    this.#hits.delete(key);
  }
}
