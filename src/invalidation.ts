/**
 * Cache invalidation across labgate instances. Whatever changes something
 * another instance may have cached calls `svc.invalidate.publish(event)`:
 * this instance's caches drop it at once, and on PostgreSQL every other
 * instance on the same database gets it through NOTIFY and drops it too
 * (within milliseconds). When an instance has not been listening (start,
 * lost connection) it drops everything, since it may have missed events.
 * On the embedded database there is one instance, so publishing is local.
 */
import type { Listener, Notifications } from "./db/mod.ts";
import { randomHex } from "./security/secrets.ts";

export type Invalidation =
  /** Everything: notifications may have been missed. */
  | { kind: "all" }
  /** Roles, groups, folders or users changed (PermissionResolver, and what keys on its epoch). */
  | { kind: "permissions" }
  /** A settings section, or `tls_certificate` when the certificate in use changed. */
  | { kind: "settings"; key: string }
  /** An API or session key was revoked. */
  | { kind: "key"; id: string }
  /** An auth token changed (`id`), or an external app did (every token). */
  | { kind: "token"; id?: string }
  /** A remote-login token was invalidated (by the SHA-256 of the token, as stored). */
  | { kind: "remote_token"; hash: string }
  /** A browser session ended (session keys bound to it stop). */
  | { kind: "session"; id: string }
  /** A list was created, dropped or redesigned (cached list definitions, SQL-door folder scopes). */
  | { kind: "lists" }
  /** A list's rows were written: its row counts (rows.ts). */
  | { kind: "rows"; list: number }
  /**
   * A SQL-door CancelRequest that reached an instance not serving `pid`: the
   * one that does cancels it. `check` is SHA-256 of `pid:secret`, so the
   * cancel key itself never goes over the database.
   */
  | { kind: "cancel"; pid: number; check: string };

type InvalidationListener = (event: Invalidation) => void;

/** One channel per database (NOTIFY never crosses databases). */
const INVALIDATION_CHANNEL = "labgate_invalidate";

const KINDS = new Set<Invalidation["kind"]>([
  "all",
  "permissions",
  "settings",
  "key",
  "token",
  "remote_token",
  "session",
  "lists",
  "rows",
  "cancel",
]);

export class InvalidationBus {
  readonly #notifications: Notifications | null;
  readonly #listeners: InvalidationListener[] = [];
  /** Marks this instance's messages, so their echo is skipped. */
  readonly #origin = randomHex(8);
  readonly #listener: Listener | null;
  readonly #log: (message: string) => void;

  constructor(
    notifications: Notifications | null,
    options: { log?: (message: string) => void } = {},
  ) {
    this.#notifications = notifications;
    this.#log = options.log ?? ((message) => console.error(message));
    this.#listener = notifications?.listen(INVALIDATION_CHANNEL, {
      message: (payload) => this.#receive(payload),
      reset: () => this.#deliver({ kind: "all" }),
      log: this.#log,
    }) ?? null;
  }

  /** Resolves once this instance listens for other instances' events. */
  get ready(): Promise<void> {
    return this.#listener?.ready ?? Promise.resolve();
  }

  subscribe(listener: InvalidationListener): void {
    this.#listeners.push(listener);
  }

  /**
   * Drops the cached facts here, then tells the other instances. Call it
   * after the change is committed, so they read the new state. A failed
   * NOTIFY is logged, not thrown: the change itself is already stored.
   */
  async publish(event: Invalidation): Promise<void> {
    this.#deliver(event);
    if (!this.#notifications) return;
    try {
      await this.#notifications.send(
        INVALIDATION_CHANNEL,
        JSON.stringify({ origin: this.#origin, event }),
      );
    } catch (error) {
      this.#log(JSON.stringify({
        level: "warn",
        message: "Could not tell other instances to drop cached data",
        event,
        error: (error as Error).message,
      }));
    }
  }

  #receive(payload: string): void {
    let message: { origin?: unknown; event?: Invalidation };
    try {
      message = JSON.parse(payload);
    } catch {
      message = {};
    }
    if (message.origin === this.#origin) return;
    if (!message.event || !KINDS.has(message.event.kind)) {
      this.#log(JSON.stringify({
        level: "warn",
        message: `Ignored a malformed message on ${INVALIDATION_CHANNEL}`,
        payload: payload.slice(0, 200),
      }));
      return;
    }
    this.#deliver(message.event);
  }

  #deliver(event: Invalidation): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#log(JSON.stringify({
          level: "error",
          message: "A cache failed to drop invalidated data",
          event,
          error: (error as Error).message,
        }));
      }
    }
  }
}
