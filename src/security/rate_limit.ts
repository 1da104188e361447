/**
 * Counts failures per key in a sliding window. Used for failed logins on
 * every door; in memory, so each instance counts its own.
 */
export class RateLimiter {
  readonly #windowMs: number;
  readonly #now: () => Date;
  readonly #hits = new Map<string, number[]>();

  constructor(options: { windowMs: number; now?: () => Date }) {
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? (() => new Date());
  }

  #recent(key: string): number[] {
    const since = this.#now().getTime() - this.#windowMs;
    const hits = (this.#hits.get(key) ?? []).filter((t) => t > since);
    if (hits.length) this.#hits.set(key, hits);
    else this.#hits.delete(key);
    return hits;
  }

  /** How many failures `key` has in the window. */
  count(key: string): number {
    return this.#recent(key).length;
  }

  /** Milliseconds until `key` drops below `limit`, or 0 when it is below now. */
  retryAfterMs(key: string, limit: number): number {
    const hits = this.#recent(key);
    if (hits.length < limit) return 0;
    return hits[hits.length - limit] + this.#windowMs - this.#now().getTime();
  }

  hit(key: string): void {
    const hits = this.#recent(key);
    hits.push(this.#now().getTime());
    this.#hits.set(key, hits);
  }

  reset(key: string): void {
    this.#hits.delete(key);
  }
}
