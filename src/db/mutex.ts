/**
 * A FIFO lock. PGlite is a single database session, so every user of it
 * (Kysely queries, transactions, SQL-door leases) must take turns.
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  /** The holder and the waiters: 0 when free (metrics show the embedded database's queue). */
  get pending(): number {
    return this.#pending;
  }

  /** Waits for the lock and returns the function that releases it. */
  acquire(): Promise<() => void> {
    let resolveHeld!: () => void;
    const held = new Promise<void>((resolve) => (resolveHeld = resolve));
    this.#pending++;
    let released = false;
    const release = () => {
      if (!released) this.#pending--;
      released = true;
      resolveHeld();
    };
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => held);
    return ready;
  }

  /** Runs `fn` while holding the lock. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
