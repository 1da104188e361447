/**
 * The audit log: one table, one writer, used by every door. Entries are
 * buffered and written in batches so the SQL door's hot path does not wait
 * on a database round trip per statement.
 */
import { type Kysely, sql } from "kysely";
import type { Schema } from "../db/schema.ts";

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

const COLUMNS = "door, event, outcome, user_id, user_email, credential_kind, credential_id, " +
  "compliance, container_id, container_path, detail, rows, duration_ms, client_addr, message";

export class AuditLog {
  readonly #db: Kysely<Schema>;
  readonly #maxBuffer: number;
  readonly #onError: (error: unknown) => void;
  #buffer: AuditRecord[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #flushMs: number;

  constructor(
    db: Kysely<Schema>,
    options: { flushMs?: number; maxBuffer?: number; onError?: (error: unknown) => void } = {},
  ) {
    this.#db = db;
    this.#flushMs = options.flushMs ?? 200;
    this.#maxBuffer = options.maxBuffer ?? 500;
    this.#onError = options.onError ?? ((e) => console.error("Audit log write failed:", e));
  }

  /** Queues an entry; it reaches the table within `flushMs`. */
  record(entry: AuditRecord): void {
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
   * One JSON parameter for the whole batch: building and sending thousands
   * of bind parameters cost more than the insert itself on busy doors.
   */
  async #write(batch: AuditRecord[]): Promise<void> {
    try {
      await sql`insert into lg_app.audit_log (${sql.raw(COLUMNS)})
        select ${sql.raw(COLUMNS)}
        from json_populate_recordset(null::lg_app.audit_log, ${JSON.stringify(batch.map(toRow))})`
        .execute(this.#db);
    } catch (error) {
      this.#onError(error);
    }
  }
}

function toRow(e: AuditRecord) {
  return {
    door: e.door,
    event: e.event,
    outcome: e.outcome,
    user_id: e.userId ?? null,
    user_email: e.userEmail ?? null,
    credential_kind: e.credential?.kind ?? null,
    credential_id: e.credential?.id ?? null,
    compliance: e.compliance ?? null,
    container_id: e.containerId ?? null,
    container_path: e.containerPath ?? null,
    detail: e.detail ? e.detail.slice(0, MAX_DETAIL) : null,
    rows: e.rows ?? null,
    duration_ms: e.durationMs ?? null,
    client_addr: e.clientAddr ?? null,
    message: e.message ?? null,
  };
}
