/**
 * The embedded database, run in a thread of its own (pglite_worker.ts) so
 * that a long statement blocks neither the event loop (pages, /healthz,
 * the SQL door's other connections) nor the process's way out.
 *
 * PGlite cannot interrupt a statement: no JavaScript runs until it ends.
 * A statement past its time limit, canceled by its client, or in the way
 * of the app's own work for too long (`preempt()`) is stopped by
 * terminating the thread; a new one opens the same data directory, where
 * PostgreSQL's crash recovery puts it back to its last commit (about 0.4 s).
 * A database in memory (tests) would be lost that way: there statements
 * always run to their end, and the limits are not enforced.
 */
import type { Results } from "@electric-sql/pglite";
import { Mutex } from "./mutex.ts";

/** What the main thread asks of the database thread. */
export type Request =
  & { id: number }
  & (
    | {
      op: "open";
      dataDir?: string;
      loadDataDir?: Blob;
      wasmModule?: WebAssembly.Module;
      sharedBuffersMb: number;
    }
    | { op: "query"; sql: string; params: unknown[]; blob?: Blob; essential?: boolean }
    | { op: "exec"; sql: string }
    | { op: "protocol"; bytes: Uint8Array }
    | { op: "dump"; compression: "none" | "gzip" | "auto" }
    | { op: "close" }
  );

export interface WorkerError {
  message: string;
  /** PGlite's DatabaseError fields: code, severity, detail, hint, position, … */
  fields: Record<string, unknown>;
}

export type Response =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: WorkerError };

/** What a request to the database thread runs under. */
interface RunOptions {
  /** Stopped (the thread restarted) after this long running; absent: no limit. */
  timeoutMs?: number;
  /** A SQL-door statement: `interrupt()` and `preempt()` may stop it. */
  preemptible?: boolean;
  /** Whose request it is: `interrupt()` stops only its owner's. */
  owner?: object;
}

/**
 * Why a SQL-door statement or session was stopped: its time limit, its
 * client's cancel, the web side waiting behind a statement, or behind a
 * transaction whose client sat idle or stopped reading its results (metrics).
 */
export type PreemptCause = "timeout" | "cancel" | "web" | "idle" | "slow_reader";

/** A statement stopped by a thread restart: SQLSTATE 57014 and, for the SQL door, why. */
export class StatementStopped extends Error {
  readonly code = "57014";
  readonly severity = "ERROR";
  /** The thread was restarted: the session's state is gone. False: the statement never ran. */
  readonly restarted: boolean;
  readonly hint?: string;

  constructor(message: string, options: { restarted: boolean; hint?: string }) {
    super(message);
    this.name = "StatementStopped";
    this.restarted = options.restarted;
    this.hint = options.hint;
  }
}

interface InFlight {
  request: Request;
  options: RunOptions;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer?: ReturnType<typeof setTimeout>;
}

const WORKER_URL = new URL("./pglite_worker.ts", import.meta.url);

let wasm: Promise<WebAssembly.Module | undefined> | undefined;

/**
 * PGlite's WASM, compiled once per process and handed to every thread;
 * undefined where the file cannot be found (PGlite then compiles its own).
 */
function compiledWasm(): Promise<WebAssembly.Module | undefined> {
  wasm ??= (async () => {
    try {
      const url = new URL("./pglite.wasm", import.meta.resolve("@electric-sql/pglite"));
      return await WebAssembly.compile(await (await fetch(url)).arrayBuffer());
    } catch {
      return undefined;
    }
  })();
  return wasm;
}

/**
 * How long the app's own work waits for the database behind a SQL-door
 * statement or idle transaction before that is stopped
 * (LABGATE_EMBEDDED_PREEMPT_MS). With a restart of about 0.3–0.45 s on a
 * quiet machine, a page still answers within 1 s.
 */
export const DEFAULT_PREEMPT_AFTER_MS = 300;

/**
 * The embedded database's buffer cache (LABGATE_EMBEDDED_SHARED_BUFFERS_MB).
 * PostgreSQL's 128 MB default is memory the process holds from the start,
 * and the operating system caches the data files as well; 32 MB holds a
 * list of some 200 000 rows.
 */
export const DEFAULT_SHARED_BUFFERS_MB = 32;

interface PgliteClientOptions {
  /** Absent: in memory. */
  dataDir?: string;
  /** An archive to start from (tests). */
  loadDataDir?: Blob;
  /** Default DEFAULT_PREEMPT_AFTER_MS. */
  preemptAfterMs?: number;
  /** Default DEFAULT_SHARED_BUFFERS_MB. */
  sharedBuffersMb?: number;
  log?: (message: string) => void;
}

export class PgliteClient {
  /** One session: the app's queries and SQL-door leases take turns. */
  readonly lock = new Mutex();
  readonly #options: PgliteClientOptions;
  readonly #log: (message: string) => void;
  #worker: Worker | null = null;
  /**
   * A thread started ahead, its module loaded, for the next restart to
   * open the database in at once (a data directory on disk only).
   */
  #spare: Worker | null = null;
  /** The thread has been sent its "open": requests may follow it. */
  #accepting = false;
  /** Requests posted to the thread, oldest (the running one) first. */
  #inFlight: InFlight[] = [];
  /** Requests waiting for the thread to be started. */
  #backlog: InFlight[] = [];
  #nextId = 1;
  #opening: Promise<void> = Promise.resolve();
  #closed = false;
  /** Why door statements are being stopped (app work has waited too long), while it lasts. */
  readonly #preemptions = new Set<StatementStopped>();
  /** This start made the data directory (initdb ran). */
  created = false;
  /** Thread restarts so far (metrics): each stop below, and a thread that died. */
  restarts = 0;
  /** Threads the database has been opened in so far: the first, each restart's, `renew()`'s. */
  threads = 0;
  /** Statements and sessions stopped so far, by cause (metrics). */
  readonly preemptions: Record<PreemptCause, number> = {
    timeout: 0,
    cancel: 0,
    web: 0,
    idle: 0,
    slow_reader: 0,
  };
  /** SQL-door sessions holding the session idle, asked to give it up by `preempt()`. */
  readonly #idleHolders = new Set<() => void>();
  /** How long the app waits behind a SQL-door statement before `preempt()` (pglite_driver.ts). */
  readonly preemptAfterMs: number;

  private constructor(options: PgliteClientOptions) {
    this.#options = options;
    this.preemptAfterMs = options.preemptAfterMs ?? DEFAULT_PREEMPT_AFTER_MS;
    this.#log = options.log ?? ((message) => console.error(message));
  }

  /** Starts the thread and opens the database in it. */
  static async open(options: PgliteClientOptions): Promise<PgliteClient> {
    const client = new PgliteClient(options);
    client.created = options.dataDir !== undefined &&
      !(await Deno.stat(`${options.dataDir}/PG_VERSION`).then(() => true, () => false));
    client.#start(options.loadDataDir);
    try {
      await client.#opening;
    } catch (error) {
      client.#worker?.terminate();
      throw error;
    }
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Statements can be stopped: the data is on disk and survives a restart. */
  get stoppable(): boolean {
    return this.#options.dataDir !== undefined;
  }

  query<R>(
    sql: string,
    params: unknown[] = [],
    options: RunOptions & { blob?: Blob; essential?: boolean } = {},
  ): Promise<{ rows: R[]; affectedRows?: number }> {
    const { blob, essential, ...run } = options;
    return this.#request({ op: "query", sql, params, blob, essential }, run) as Promise<
      { rows: R[]; affectedRows?: number }
    >;
  }

  /** Several statements in one simple query, PGlite's `exec()` results. */
  exec(sql: string): Promise<Results[]> {
    return this.#request({ op: "exec", sql }, {}) as Promise<Results[]>;
  }

  /** Raw protocol messages in, the backend's messages out (the SQL door). */
  async execProtocolRaw(bytes: Uint8Array, options: RunOptions = {}): Promise<Uint8Array> {
    // A copy of its own goes over (the caller's buffer may be shared, or a constant like SYNC);
    // client messages are small, and the reply, which may be large, comes back uncopied.
    return await this.#request({ op: "protocol", bytes: bytes.slice() }, options) as Uint8Array;
  }

  async dumpDataDir(compression: "none" | "gzip" | "auto" = "gzip"): Promise<Blob> {
    return await this.#request({ op: "dump", compression }, {}) as Blob;
  }

  /** Stops `owner`'s running SQL-door statement with `error`; false when none runs. */
  interrupt(owner: object, error: StatementStopped): boolean {
    const head = this.#inFlight[0];
    if (!head?.options.preemptible || head.options.owner !== owner || !this.stoppable) return false;
    this.#restart(error, "cancel");
    return true;
  }

  /** The app is waiting behind the SQL door (`preempt()` was called and not yet withdrawn). */
  get preempting(): boolean {
    return this.#preemptions.size > 0;
  }

  /**
   * `yieldIdle` is called at each `preempt()` that finds no statement
   * running: a SQL-door session holding the session idle (an open
   * transaction) ends it there. Returns the unsubscribe.
   */
  onPreempt(yieldIdle: () => void): () => void {
    this.#idleHolders.add(yieldIdle);
    return () => this.#idleHolders.delete(yieldIdle);
  }

  /**
   * App work has waited too long: the running SQL-door statement is stopped
   * with `error`, and so is every one started until the returned function is
   * called; with none running, a SQL-door session idle in a transaction is
   * asked to give the session up (`onPreempt()`).
   */
  preempt(error: StatementStopped): () => void {
    const head = this.#inFlight[0];
    // Ending an idle session needs no restart: a database in memory does it too.
    if (!head) { for (const yieldIdle of this.#idleHolders) yieldIdle(); }
    if (!this.stoppable) return () => {};
    this.#preemptions.add(error);
    if (head?.options.preemptible) this.#restart(error, "web");
    return () => this.#preemptions.delete(error);
  }

  /**
   * Opens the database again in a new thread, which starts at its idle
   * size: the thread that made a new data directory (initdb, the first
   * migrations) holds a few hundred MiB more that PGlite never gives back.
   */
  async renew(): Promise<void> {
    await this.lock.run(async () => {
      await this.#request({ op: "close" }, {});
      this.#worker?.terminate();
      this.#worker = null;
      this.#start();
      await this.#opening;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#request({ op: "close" }, {});
    } finally {
      this.#closed = true;
      this.#worker?.terminate();
      this.#worker = null;
      this.#spare?.terminate();
      this.#spare = null;
    }
  }

  #request(body: DistributiveOmit<Request, "id">, options: RunOptions): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error("The embedded database is closed"));
    const [preempted] = this.#preemptions;
    if (options.preemptible && preempted) {
      return Promise.reject(
        new StatementStopped(preempted.message, { restarted: false, hint: preempted.hint }),
      );
    }
    return new Promise((resolve, reject) => {
      const item: InFlight = {
        request: { ...body, id: this.#nextId++ } as Request,
        options,
        resolve,
        reject,
      };
      if (this.#worker && this.#accepting) return this.#post(item);
      this.#backlog.push(item);
      // The last start failed (a full or read-only disk, say): each request tries again.
      if (!this.#worker) this.#start();
    });
  }

  #post(item: InFlight): void {
    const request = item.request;
    const transfer = request.op === "protocol" ? [request.bytes.buffer as ArrayBuffer] : [];
    this.#inFlight.push(item);
    this.#worker!.postMessage(request, transfer);
    if (this.#inFlight.length === 1) this.#arm();
  }

  /** The oldest request is running now: its time limit starts. */
  #arm(): void {
    const head = this.#inFlight[0];
    const timeoutMs = head?.options.timeoutMs;
    if (!head || timeoutMs === undefined || !Number.isFinite(timeoutMs) || !this.stoppable) return;
    head.timer = setTimeout(() => {
      if (this.#inFlight[0] !== head) return;
      this.#restart(
        new StatementStopped("canceling statement due to statement timeout", {
          restarted: true,
          hint: `The statement ran longer than ${timeoutMs} ms`,
        }),
        "timeout",
      );
    }, timeoutMs);
  }

  #onResponse(worker: Worker, response: Response): void {
    if (worker !== this.#worker) return;
    const head = this.#inFlight.shift();
    if (!head || head.request.id !== response.id) {
      return this.#lost(worker, new Error("The embedded database thread answered out of order"));
    }
    clearTimeout(head.timer);
    this.#arm();
    if (response.ok) head.resolve(response.result);
    else head.reject(Object.assign(new Error(response.error.message), response.error.fields));
  }

  /** Starts a thread on the data directory; requests posted meanwhile run after it opened. */
  #start(loadDataDir?: Blob): void {
    const worker = this.#spare ?? newWorker();
    this.#spare = null;
    worker.onmessage = (event: MessageEvent<Response>) => this.#onResponse(worker, event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#lost(worker, new Error(`The embedded database stopped: ${event.message}`));
    };
    const opened = new Promise<void>((resolve, reject) => {
      const item: InFlight = {
        request: {
          op: "open",
          id: this.#nextId++,
          dataDir: this.#options.dataDir,
          loadDataDir,
          sharedBuffersMb: this.#options.sharedBuffersMb ?? DEFAULT_SHARED_BUFFERS_MB,
        },
        options: {},
        resolve: () => resolve(),
        reject,
      };
      void compiledWasm().then(
        (wasmModule) => {
          if (this.#worker !== worker) return reject(new Error("The embedded database closed"));
          (item.request as { wasmModule?: WebAssembly.Module }).wasmModule = wasmModule;
          this.#post(item);
          this.#accepting = true;
          const backlog = this.#backlog;
          this.#backlog = [];
          for (const waiting of backlog) this.#post(waiting);
        },
        reject,
      );
    });
    this.#worker = worker;
    this.threads++;
    this.#accepting = false;
    this.#opening = opened;
    // Once this one is open (not to slow it down), the next restart's thread is started.
    opened.then(() => {
      if (this.stoppable && !this.#closed && this.#worker === worker) {
        this.#spare ??= this.#newSpare();
      }
    }, () => {});
    opened.catch((error) => {
      if (this.#worker !== worker) return;
      worker.terminate();
      this.#worker = null;
      const waiting = [...this.#inFlight, ...this.#backlog];
      this.#inFlight = [];
      this.#backlog = [];
      const failed = new Error(`The embedded database could not be opened: ${error.message}`);
      for (const item of waiting) item.reject(failed);
    });
  }

  /** A thread waiting to be used; if it fails meanwhile, the next restart starts one anew. */
  #newSpare(): Worker {
    const worker = newWorker();
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      if (this.#spare === worker) this.#spare = null;
    };
    return worker;
  }

  /** Terminates the thread: the running request fails with `error`, the rest as lost. */
  #restart(error: StatementStopped, cause: PreemptCause): void {
    this.preemptions[cause]++;
    this.#replace(error, new StatementStopped(error.message, { restarted: true }));
  }

  #lost(worker: Worker, error: Error): void {
    if (worker !== this.#worker) return;
    this.#replace(error, error);
  }

  #replace(headError: Error, restError: Error): void {
    this.#worker?.terminate();
    this.#worker = null;
    const [head, ...rest] = this.#inFlight;
    this.#inFlight = [];
    for (const item of [head, ...rest]) if (item) clearTimeout(item.timer);
    head?.reject(headError);
    for (const item of rest) item.reject(restError);
    if (this.#closed) return;
    this.restarts++;
    const started = performance.now();
    this.#start();
    this.#opening.then(
      () =>
        this.#log(JSON.stringify({
          level: "warn",
          message: `Embedded database restarted: ${headError.message}`,
          restartMs: Math.round(performance.now() - started),
        })),
      (failed) =>
        this.#log(JSON.stringify({
          level: "error",
          message: `Embedded database could not restart: ${failed.message}`,
        })),
    );
  }
}

function newWorker(): Worker {
  return new Worker(WORKER_URL, { type: "module" });
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
