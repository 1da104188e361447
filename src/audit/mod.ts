/**
 * The audit log: one table, one writer, used by every door. Entries are
 * buffered and written in batches so the SQL door's hot path does not wait
 * on a database round trip per statement.
 */

export type Door = "web" | "api" | "sql" | "key" | "token" | "remote" | "system";
export type Outcome = "ok" | "denied" | "failed" | "error";

export interface AuditRecord {
  door: Door;
  /** What happened, e.g. "login", "list.create", "sql.query". */
  event: string;
  outcome: Outcome;
  userId?: number | null;
  userEmail?: string | null;
  /** Which credential was used: kind and non-secret id, never the secret. */
  credential?: { kind: string; id?: string | null } | null;
  compliance?: Record<string, unknown> | null;
  containerId?: number | null;
  containerPath?: string | null;
  /** Action, SQL text or changed object. */
  detail?: string | null;
  rows?: number | null;
  durationMs?: number | null;
  clientAddr?: string | null;
  message?: string | null;
}

const MAX_DETAIL = 16_000;

/** The table's columns, in the order each entry's values are written. */
const COLUMNS = [
  "door",
  "event",
  "outcome",
  "user_id",
  "user_email",
  "credential_kind",
  "credential_id",
  "compliance",
  "container_id",
  "container_path",
  "detail",
  "rows",
  "duration_ms",
  "client_addr",
  "message",
] as const;

/** Where entries go: rows in COPY's text format appended to a table (see Database.copyIn). */
export interface AuditSink {
  copyIn(table: string, columns: readonly string[], rows: string): Promise<void>;
}

export interface AuditObserver {
  entry(entry: AuditRecord): void;
  written(ms: number, ok: boolean): void;
}

export class AuditLog {
  readonly #sink: AuditSink;
  readonly #maxBuffer: number;
  readonly #onError: (error: unknown) => void;
  #buffer: AuditRecord[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #flushMs: number;
  #observers: AuditObserver[] = [];

  constructor(
    sink: AuditSink,
    options: { flushMs?: number; maxBuffer?: number; onError?: (error: unknown) => void } = {},
  ) {
    this.#sink = sink;
    this.#flushMs = options.flushMs ?? 200;
    this.#maxBuffer = options.maxBuffer ?? 500;
    this.#onError = options.onError ?? ((e) => console.error("Audit log write failed:", e));
  }

  /** Sees every entry as it is recorded and every batch written (metrics). */
  observe(observer: AuditObserver): void {
    this.#observers.push(observer);
  }

  /** Queues an entry; it reaches the table within `flushMs`. */
  record(entry: AuditRecord): void {
    for (const observer of this.#observers) observer.entry(entry);
    this.#buffer.push(entry);
    if (this.#buffer.length >= this.#maxBuffer) {
      void this.flush();
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushMs);
    }
  }

  /** Writes every queued entry now. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#buffer;
    this.#buffer = [];
    this.#flushing = this.#flushing.then(() => batch.length ? this.#write(batch) : undefined);
    return this.#flushing;
  }

  /**
   * One COPY per batch: PostgreSQL takes COPY rows for about a third of the
   * CPU of the same rows inserted from array parameters, and a busy SQL door
   * writes an entry for every statement.
   */
  async #write(batch: AuditRecord[]): Promise<void> {
    let rows = "";
    for (const e of batch) {
      rows += `${text(e.door)}\t${text(e.event)}\t${text(e.outcome)}\t${number(e.userId)}\t${
        text(e.userEmail)
      }\t${text(e.credential?.kind)}\t${text(e.credential?.id)}\t${
        e.compliance ? text(JSON.stringify(e.compliance)) : NULL
      }\t${number(e.containerId)}\t${text(e.containerPath)}\t${
        text(e.detail ? e.detail.slice(0, MAX_DETAIL) : null)
      }\t${number(e.rows)}\t${number(e.durationMs)}\t${text(e.clientAddr)}\t${text(e.message)}\n`;
    }
    const started = performance.now();
    let ok = false;
    try {
      await this.#sink.copyIn("audit_log", COLUMNS, rows);
      ok = true;
    } catch (error) {
      this.#onError(error);
    } finally {
      for (const observer of this.#observers) observer.written(performance.now() - started, ok);
    }
  }
}

/** COPY's text format for a missing value. */
const NULL = "\\N";
const SPECIAL = /[\\\t\n\r\0]/;
const ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "\t": "\\t",
  "\n": "\\n",
  "\r": "\\r",
  // PostgreSQL text cannot hold NUL: it becomes the replacement character.
  "\0": "\uFFFD",
};

/** A text value in COPY's text format. */
function text(value: string | null | undefined): string {
  if (value === null || value === undefined) return NULL;
  if (!SPECIAL.test(value)) return value;
  return value.replace(/[\\\t\n\r\0]/g, (c) => ESCAPES[c]);
}

/** A number in COPY's text format; not a finite number is no value. */
function number(value: number | null | undefined): string {
  return typeof value === "number" && Number.isFinite(value) ? String(value) : NULL;
}
