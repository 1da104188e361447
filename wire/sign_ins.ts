/**
 * Connections that have not signed in yet. Each gets a deadline (like
 * PostgreSQL's authentication_timeout), and one address may have only so
 * many at once: a socket that never sends a startup packet, or stops in the
 * middle of authentication, costs the door nothing beyond its deadline.
 */

/** One connection's sign-in, from accept until its first ReadyForQuery. */
export class SignIn {
  /** What to do at the deadline: close the socket, or end the session once there is one. */
  onTimeout: () => void = () => {};
  #timer: ReturnType<typeof setTimeout> | undefined;
  #finish: (() => void) | null;

  constructor(timeoutMs: number, finish: () => void) {
    this.#finish = finish;
    this.#timer = setTimeout(() => {
      this.end();
      this.onTimeout();
    }, timeoutMs);
  }

  /** Signed in, or gone: stops counting. Later calls do nothing. */
  end(): void {
    const finish = this.#finish;
    if (!finish) return;
    this.#finish = null;
    clearTimeout(this.#timer);
    finish();
  }
}

export class SignIns {
  /** Connections signing in, per client address. */
  readonly #byAddress = new Map<string, number>();

  /** Counts a new connection from `address`, or null when `limit` from there are signing in. */
  begin(address: string, options: { limit: number; timeoutMs: number }): SignIn | null {
    const count = this.#byAddress.get(address) ?? 0;
    if (count >= options.limit) return null;
    this.#byAddress.set(address, count + 1);
    return new SignIn(options.timeoutMs, () => {
      const left = this.#byAddress.get(address)! - 1;
      if (left) this.#byAddress.set(address, left);
      else this.#byAddress.delete(address);
    });
  }
}
