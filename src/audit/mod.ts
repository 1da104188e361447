/**
 * The audit log: one table, one writer, used by every door. Entries are
 * buffered and written in batches so the SQL door's hot path does not wait
 * on a database round trip per statement. The record of a change is
 * written on the change's own transaction instead (recordIn), so a crash
 * cannot keep the change and lose its record.
 */
import { type Kysely, sql } from "kysely";
import { APP_SCHEMA, type Schema } from "../db/mod.ts";

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

/** The table's columns, in the order each entry's values are written (and exports list them). */
export const COLUMNS = [
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
interface AuditSink {
  copyIn(table: string, columns: readonly string[], rows: string): Promise<void>;
}

/** Sees every entry as it is recorded and every batch write with its time (metrics). */
export interface AuditObserver {
  entry(entry: AuditRecord): void;
  written(ms: number, ok: boolean): void;
}

/** The longest wait between two attempts to write entries the database refused. */
const MAX_RETRY_MS = 10_000;

/**
 * Entries are never dropped: a batch the database refuses stays queued, in
 * order, and is written again with growing pauses until it lands. While
 * writes fail the log is `failing`, and doors refuse the accesses they would
 * have to record (see recordDurably) instead of granting them unrecorded.
 */
export class AuditLog {
  readonly #sink: AuditSink;
  readonly #maxBuffer: number;
  readonly #onError: (error: unknown) => void;
  #buffer: AuditRecord[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #flushMs: number;
  readonly #retryMs: number;
  #observers: AuditObserver[] = [];
  #failures = 0;
  #failure: unknown = null;
  /** Callers of recordDurably(), by entry, until its first write attempt ends. */
  readonly #waiting = new Map<AuditRecord, { resolve(): void; reject(error: unknown): void }>();

  constructor(
    sink: AuditSink,
    options: {
      flushMs?: number;
      maxBuffer?: number;
      /** The first pause before writing a refused batch again; it doubles up to 10 s. */
      retryMs?: number;
      onError?: (error: unknown) => void;
    } = {},
  ) {
    this.#sink = sink;
    this.#flushMs = options.flushMs ?? 200;
    this.#maxBuffer = options.maxBuffer ?? 500;
    this.#retryMs = options.retryMs ?? 100;
    this.#onError = options.onError ?? ((e) => console.error("Audit log write failed:", e));
  }

  observe(observer: AuditObserver): void {
    this.#observers.push(observer);
  }

  /** True from a failed write until a write succeeds again. */
  get failing(): boolean {
    return this.#failures > 0;
  }

  /** Why the last write failed, while `failing` (a lost database, a refusing trigger…). */
  get failure(): unknown {
    return this.#failure;
  }

  /** Queues an entry; it reaches the table within `flushMs` (or when the database takes it). */
  record(entry: AuditRecord): void {
    for (const observer of this.#observers) observer.entry(entry);
    this.#buffer.push(entry);
    if (this.#buffer.length >= this.#maxBuffer) {
      void this.flush();
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushMs);
    }
  }

  /**
   * Writes an entry with `insert`, given the table's columns and the entry's
   * values in their order: for a change's own transaction, so the change and
   * its record commit together or not at all. Rejects when the insert fails,
   * and the change's transaction fails with it.
   */
  async recordWith(
    entry: AuditRecord,
    insert: (columns: readonly string[], values: AuditValue[]) => Promise<void>,
  ): Promise<void> {
    await insert(COLUMNS, valuesOf(entry));
    for (const observer of this.#observers) observer.entry(entry);
  }

  /** Writes an entry on the transaction `trx` (see recordWith). */
  recordIn(trx: Kysely<Schema>, entry: AuditRecord): Promise<void> {
    return this.recordWith(entry, async (columns, values) => {
      const cells = values.map((value, i) =>
        columns[i] === "compliance" ? sql`cast(cast(${value} as text) as jsonb)` : sql`${value}`
      );
      await sql`insert into ${sql.table(`${APP_SCHEMA}.audit_log`)} (${
        sql.join(columns.map((c) => sql.ref(c)))
      })
        values (${sql.join(cells)})`.execute(trx);
    });
  }

  /**
   * Writes an entry now, with whatever is queued. Rejects when that write
   * fails (the entry stays queued and is retried): for accesses that must
   * not be granted unless their record is stored, such as a login.
   */
  recordDurably(entry: AuditRecord): Promise<void> {
    const written = new Promise<void>((resolve, reject) => {
      this.#waiting.set(entry, { resolve, reject });
    });
    for (const observer of this.#observers) observer.entry(entry);
    this.#buffer.push(entry);
    void this.flush();
    return written;
  }

  /** Writes every queued entry now; entries the database refuses stay queued for a retry. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flushing = this.#flushing.then(() => {
      const batch = this.#buffer;
      this.#buffer = [];
      return batch.length ? this.#write(batch) : undefined;
    });
    return this.#flushing;
  }

  async #write(batch: AuditRecord[]): Promise<void> {
    try {
      await this.#copy(batch);
    } catch (error) {
      if (!isDataError(error)) return this.#retryLater(batch, error);
      // Values the table cannot hold: find the entries, and store them without their extras.
      for (const entry of batch) {
        try {
          await this.#copy([entry]);
        } catch (error) {
          if (!isDataError(error)) {
            return this.#retryLater(batch.slice(batch.indexOf(entry)), error);
          }
          this.#onError(error);
          await this.#copy([withoutExtras(entry, error)]).catch((e) =>
            this.#retryLater(batch.slice(batch.indexOf(entry)), e)
          );
        }
      }
    }
  }

  /** Writes entries and settles their recordDurably() callers. */
  async #copy(entries: AuditRecord[]): Promise<void> {
    const started = performance.now();
    let ok = false;
    try {
      await this.#sink.copyIn("audit_log", COLUMNS, encode(entries));
      ok = true;
    } finally {
      for (const observer of this.#observers) observer.written(performance.now() - started, ok);
    }
    this.#failures = 0;
    this.#failure = null;
    this.#settle(entries);
  }

  #retryLater(entries: AuditRecord[], error: unknown): void {
    this.#onError(error);
    this.#failures++;
    this.#failure = error;
    this.#settle(entries, error);
    this.#buffer = entries.concat(this.#buffer);
    if (this.#timer) clearTimeout(this.#timer);
    const pause = Math.min(this.#retryMs * 2 ** (this.#failures - 1), MAX_RETRY_MS);
    this.#timer = setTimeout(() => void this.flush(), pause);
  }

  #settle(entries: AuditRecord[], error?: unknown): void {
    if (this.#waiting.size === 0) return;
    for (const entry of entries) {
      const waiting = this.#waiting.get(entry);
      if (!waiting) continue;
      this.#waiting.delete(entry);
      if (error === undefined) waiting.resolve();
      else waiting.reject(error);
    }
  }
}

/** PostgreSQL's class 22: a value the column cannot take; writing it again would fail again. */
function isDataError(error: unknown): boolean {
  return /^22/.test(String((error as { code?: unknown })?.code ?? ""));
}

/** An entry the database refused, kept with what always fits and why the rest is missing. */
function withoutExtras(entry: AuditRecord, error: unknown): AuditRecord {
  return {
    door: entry.door,
    event: entry.event,
    outcome: entry.outcome,
    userId: entry.userId,
    userEmail: entry.userEmail,
    containerId: entry.containerId,
    containerPath: entry.containerPath,
    clientAddr: entry.clientAddr,
    message: `Audit entry could not be stored as given: ${(error as Error)?.message ?? error}`,
  };
}

/** A value as stored: text, a number, or null (no value). */
type AuditValue = string | number | null;

/**
 * An entry's values in COLUMNS order, cleaned to what the table holds: the
 * one place that decides them, for the batched COPY and for entries written
 * on a change's own transaction (recordWith) alike. Text loses NUL (which
 * PostgreSQL text cannot hold), detail is cut at MAX_DETAIL, a number the
 * column cannot hold is no value.
 */
function valuesOf(e: AuditRecord): AuditValue[] {
  return [
    text(e.door),
    text(e.event),
    text(e.outcome),
    integer(e.userId),
    text(e.userEmail),
    text(e.credential?.kind),
    text(e.credential?.id),
    e.compliance ? text(JSON.stringify(e.compliance)) : null,
    integer(e.containerId),
    text(e.containerPath),
    text(e.detail ? e.detail.slice(0, MAX_DETAIL) : null),
    integer(e.rows),
    number(e.durationMs),
    text(e.clientAddr),
    text(e.message),
  ];
}

/**
 * One COPY per batch: PostgreSQL takes COPY rows for about a third of the
 * CPU of the same rows inserted from array parameters, and a busy SQL door
 * writes an entry for every statement.
 */
function encode(batch: AuditRecord[]): string {
  let rows = "";
  for (const entry of batch) rows += valuesOf(entry).map(copyText).join("\t") + "\n";
  return rows;
}

/** COPY's text format for a missing value. */
const NULL = "\\N";
const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** A value in COPY's text format. */
function copyText(value: AuditValue): string {
  if (value === null) return NULL;
  if (typeof value === "number") return String(value);
  return SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]) : value;
}

/** PostgreSQL text cannot hold NUL: it becomes the replacement character. */
function text(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return value.includes("\0") ? value.replaceAll("\0", "\uFFFD") : value;
}

/** An integer column's value; one the column cannot hold is no value. */
function integer(value: number | null | undefined): number | null {
  return Number.isInteger(value) && Math.abs(value!) <= MAX_INTEGER ? value! : null;
}

/** The largest value of PostgreSQL's integer. */
const MAX_INTEGER = 2 ** 31 - 1;

/** A finite number, else no value. */
function number(value: number | null | undefined): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}
