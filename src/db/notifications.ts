/**
 * PostgreSQL LISTEN/NOTIFY for labgate's cross-instance messages. Sending
 * goes through the pool (`pg_notify`); each listener holds one dedicated
 * connection outside the pool, because a pooled session would stop
 * listening when it is handed back. NOTIFY reaches only sessions on the
 * same database, so instances of different labgate databases never mix.
 */
import pg from "pg";

interface ListenHandlers {
  /** A payload sent on the channel by any session, this instance's own included. */
  message(payload: string): void;
  /**
   * Listening has (re)started: whatever was sent while it was not
   * listening is lost, so everything cached must be dropped.
   */
  reset(): void;
  log?(message: string): void;
}

export interface Listener {
  /** Resolves once the first LISTEN is in place. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface Notifications {
  send(channel: string, payload: string): Promise<void>;
  listen(channel: string, handlers: ListenHandlers): Listener;
  /** Stops every listener (the database is closing). */
  close(): Promise<void>;
}

/** Waits after a lost listening connection: doubling from the first to the last. */
const BACKOFF_MS = { first: 100, max: 5_000 };

export function postgresNotifications(url: string, pool: pg.Pool): Notifications {
  const listeners = new Set<Listener>();
  return {
    async send(channel, payload) {
      await pool.query("select pg_notify($1, $2)", [channel, payload]);
    },
    listen(channel, handlers) {
      const listener = listenOn(url, channel, handlers, () => listeners.delete(listener));
      listeners.add(listener);
      return listener;
    },
    async close() {
      await Promise.all([...listeners].map((l) => l.close()));
    },
  };
}

function listenOn(
  url: string,
  channel: string,
  handlers: ListenHandlers,
  onClose: () => void,
): Listener {
  const log = handlers.log ?? ((message) => console.error(message));
  let client: pg.Client | null = null;
  let closed = false;
  let delay = BACKOFF_MS.first;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));

  const retry = (reason: string) => {
    if (closed || timer !== undefined) return;
    log(JSON.stringify({
      level: "warn",
      message: `Not listening for cache invalidations; retrying in ${delay} ms`,
      error: reason,
    }));
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
    delay = Math.min(delay * 2, BACKOFF_MS.max);
  };

  const connect = async () => {
    const next = new pg.Client({
      connectionString: url,
      application_name: "labgate-listen",
      // A silently dropped connection (failover, NAT timeout) is noticed and replaced.
      keepAlive: true,
    });
    client = next;
    let lost = false;
    const onLost = (reason: string) => {
      if (lost) return;
      lost = true;
      next.end().catch(() => {});
      if (client === next) client = null;
      retry(reason);
    };
    next.on("error", (error: Error) => onLost(error.message));
    next.on("end", () => onLost("connection closed"));
    next.on("notification", (message: pg.Notification) => {
      if (message.channel === channel && message.payload !== undefined) {
        handlers.message(message.payload);
      }
    });
    try {
      await next.connect();
      await next.query(`listen ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      onLost((error as Error).message);
      return;
    }
    if (closed) return void next.end().catch(() => {});
    delay = BACKOFF_MS.first;
    handlers.reset();
    resolveReady();
  };

  void connect();
  return {
    ready,
    async close() {
      closed = true;
      clearTimeout(timer);
      onClose();
      const current = client;
      client = null;
      resolveReady();
      await current?.end().catch(() => {});
    },
  };
}
