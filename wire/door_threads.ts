/**
 * What the SQL door's threads share when it runs on several (setting
 * LABGATE_SQL_DOOR_THREADS): each thread is a door of its own on the same
 * port (`reusePort`: the kernel spreads new connections), with its own
 * database sessions; the connection caps are counted across all of them in
 * shared memory, and a cancel request that reaches a thread not holding
 * the connection is passed to the others.
 */

/** Users whose connections can be counted at once; beyond this a thread counts its own. */
const USER_SLOTS = 1 << 14;
/** Int32 layout: [0] all connections, then USER_SLOTS user ids, then their counts. */
const TOTAL = 0;
const KEYS = 1;
const COUNTS = KEYS + USER_SLOTS;

export interface DoorThread {
  /** This thread's number, from 0, and how many there are. */
  index: number;
  count: number;
  /** Shared by every thread: from `ConnectionCounts.buffer()`. */
  counts: SharedArrayBuffer;
}

/** Connection counts in shared memory, so every thread sees the same caps. */
export class ConnectionCounts {
  readonly #cells: Int32Array;
  /** Users that did not fit in the shared table: counted by this thread alone. */
  readonly #local = new Map<number, number>();

  static buffer(): SharedArrayBuffer {
    return new SharedArrayBuffer((COUNTS + USER_SLOTS) * Int32Array.BYTES_PER_ELEMENT);
  }

  constructor(buffer: SharedArrayBuffer = ConnectionCounts.buffer()) {
    this.#cells = new Int32Array(buffer);
  }

  /** One more connection, unless there are `max` already. */
  open(max: number): boolean {
    if (Atomics.add(this.#cells, TOTAL, 1) < max) return true;
    Atomics.sub(this.#cells, TOTAL, 1);
    return false;
  }

  close(): void {
    Atomics.sub(this.#cells, TOTAL, 1);
  }

  /** One more connection of `userId`, or how many it has when that is `max` already. */
  addUser(userId: number, max: number): number | null {
    const slot = this.#slot(userId);
    if (slot < 0) {
      const count = this.#local.get(userId) ?? 0;
      if (count >= max) return count;
      this.#local.set(userId, count + 1);
      return null;
    }
    const count = Atomics.add(this.#cells, COUNTS + slot, 1);
    if (count < max) return null;
    Atomics.sub(this.#cells, COUNTS + slot, 1);
    return count;
  }

  removeUser(userId: number): void {
    const slot = this.#slot(userId);
    if (slot >= 0) {
      Atomics.sub(this.#cells, COUNTS + slot, 1);
      return;
    }
    const count = (this.#local.get(userId) ?? 1) - 1;
    if (count > 0) this.#local.set(userId, count);
    else this.#local.delete(userId);
  }

  /** The user's slot (claimed on first use; user ids are never 0), or -1 when the table is full. */
  #slot(userId: number): number {
    const start = Math.imul(userId, 0x9e3779b1) >>> 18;
    for (let i = 0; i < USER_SLOTS; i++) {
      const slot = (start + i) & (USER_SLOTS - 1);
      const key = Atomics.compareExchange(this.#cells, KEYS + slot, 0, userId);
      if (key === 0 || key === userId) return slot;
    }
    return -1;
  }
}

/** Messages between the main thread and a door thread. */
export type ThreadMessage =
  /** The thread's module is loaded: messages sent before that may be lost. */
  | { kind: "loaded" }
  | { kind: "start"; port: number | undefined; thread: DoorThread }
  | { kind: "started" }
  | { kind: "failed"; message: string }
  | { kind: "stop" }
  | { kind: "stopped" };

/** The further door threads, started once the main thread's door listens. */
export class DoorThreads {
  readonly #workers: Worker[] = [];

  /** Starts threads 1 … count-1 on `port`; rejects with the first one's failure. */
  static async start(
    options: { port: number | undefined; count: number; counts: SharedArrayBuffer },
  ): Promise<DoorThreads> {
    const threads = new DoorThreads();
    try {
      for (let index = 1; index < options.count; index++) {
        const worker = new Worker(new URL("./door_worker.ts", import.meta.url), { type: "module" });
        threads.#workers.push(worker);
        await threads.#ask(worker, null, "loaded");
        await threads.#ask(worker, {
          kind: "start",
          port: options.port,
          thread: { index, count: options.count, counts: options.counts },
        }, "started");
      }
    } catch (error) {
      await threads.stop();
      throw error;
    }
    return threads;
  }

  #ask(
    worker: Worker,
    message: ThreadMessage | null,
    answer: ThreadMessage["kind"],
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<ThreadMessage>) => {
        if (event.data.kind === answer) resolve();
        else if (event.data.kind === "failed") reject(new Error(event.data.message));
      };
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      if (message) worker.postMessage(message);
    });
  }

  /** Each thread ends its connections and writes its audit entries, then goes. */
  async stop(): Promise<void> {
    await Promise.all(this.#workers.map(async (worker) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#ask(worker, { kind: "stop" }, "stopped").catch(() => {}),
        new Promise((resolve) => timer = setTimeout(resolve, 10_000)),
      ]);
      clearTimeout(timer);
      worker.terminate();
    }));
    this.#workers.length = 0;
  }
}
