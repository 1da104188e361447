/**
 * The replies side of a client session. Every message forwarded to the
 * backend, and every answer the door gives itself, is queued here in
 * protocol order; backend replies are matched to the head of the queue (a
 * handler per backend message), so the door's own answers go out exactly
 * where PostgreSQL would have put them, an error skips the rest of an
 * extended batch until Sync, and result rows are forwarded as received:
 * runs of backend messages leave as views of the chunk they came in.
 */
import type { Outcome } from "../src/audit/mod.ts";
import { concat, readInt32 } from "./protocol/bytes.ts";
import { ErrorField, SqlState, WireError } from "./protocol/errors.ts";
import { BackendCode, FrontendCode, TxStatus } from "./protocol/message_codes.ts";
import {
  decodeFields,
  encodeFields,
  type ErrorFields,
  errorResponse,
  fieldOf,
  readDataRow,
} from "./protocol/messages.ts";
import type { Transport } from "./protocol/transport.ts";
import type { StatementInfo } from "./sandbox.ts";

/** A client statement to audit once it has run. */
export interface Audit {
  text: string;
  /** The analysis it ran as: its run time is remembered for statements of the same shape. */
  shape?: readonly StatementInfo[];
  started: number;
  rows: number;
  outcome: Outcome;
  /** The error's SQLSTATE, with the message for cancels and timeouts (class 57: no names in it). */
  error?: string;
}

/** What of a backend error the audit log keeps: the SQLSTATE, and why for class 57. */
function auditedError(fields: ErrorFields): string {
  const code = fieldOf(fields, ErrorField.Code) ?? "XX000";
  return code.startsWith("57") ? `${code} ${fieldOf(fields, ErrorField.Message) ?? ""}` : code;
}

/** A message whose reply has not arrived yet, or an answer of the door's own. */
interface Pending {
  /** The frontend message code, or 0 for an answer of the door's own. */
  code: number;
  /** Sent to the client when this reaches the head. */
  local?: Uint8Array;
  /** The door's own message: the client does not see its normal reply. */
  injected?: boolean;
  /** Not even its error. */
  quiet?: boolean;
  /** The backend's error for this message is replaced by this one. */
  refusal?: WireError;
  positionMap?: (pos: number) => number;
  /** Collects the rows of the door's own query. */
  rows?: (string | null)[][];
  audit?: Audit;
  onDone?: () => void;
  /** The message failed, or was skipped because an earlier one in its batch did. */
  onError?: (fields: [number, string][] | null) => void;
}

/** What the pipeline asks of its session. */
interface PipelineHost {
  /** Error and notice text as the client may see it (no physical names). */
  hide(text: string): string;
  record(audit: Audit): void;
  /**
   * A ReadyForQuery is about to end the client's last pending message:
   * true to hold it back (the host sends it later, see `capture`).
   */
  holdsReady(status: number): boolean;
  /** Receives a held ReadyForQuery. */
  capture(rfq: Uint8Array): void;
  /** Nothing is pending after a ReadyForQuery. */
  idle(): void;
  /** A RowDescription with list columns named as defined, or null to pass it on as it is. */
  rowDescription(frame: Uint8Array): Uint8Array | null;
  /** The backend started COPY FROM STDIN, which the door never allows. */
  copyIn(): void;
  /** What one statement may return (rows, bytes of rows; 0 for no limit), read as it starts. */
  resultLimits(): ResultLimits;
  /** Asks the backend to stop the running statement: it returned more than its limit. */
  cancelStatement(): void;
  fail(error: unknown): void;
}

interface ResultLimits {
  rows: number;
  bytes: number;
}

/** The statement's result went past a limit: what the client is told instead of the rest. */
function limitExceeded(limits: ResultLimits, rows: number): WireError {
  const [what, setting, limit] = limits.rows && rows > limits.rows
    ? [`${limits.rows} rows`, "maxResultRows", limits.rows]
    : [`${limits.bytes} bytes of rows`, "maxResultBytes", limits.bytes];
  return new WireError(
    SqlState.ProgramLimitExceeded,
    `The statement's result is larger than the ${what} one statement may return through the ` +
      `SQL door (setting ${setting}): it was stopped after ${rows - 1} rows`,
    {
      hint: `Add a LIMIT or a WHERE clause, or fetch in parts with a cursor (DECLARE … FETCH). ` +
        `An administrator can change the sql_door setting ${setting} (${limit} here).`,
    },
  );
}

/** Client output beyond this pauses reading from the backend. */
const HIGH_WATER = 1024 * 1024;
const EMPTY: Uint8Array = new Uint8Array(0);

/** Error and notice fields that may carry physical names. */
const TEXT_FIELDS: Set<number> = new Set([
  ErrorField.Message,
  ErrorField.Detail,
  ErrorField.Hint,
  ErrorField.Schema,
  ErrorField.Table,
  ErrorField.Column,
  ErrorField.DataType,
  ErrorField.Constraint,
]);

/**
 * Fields that describe the sandbox's own SQL, never the client's: clients
 * cannot create functions, so every context line (`W`) and internal query
 * (`q`, `p`) comes from a shadow-catalog wrapper.
 */
const INTERNAL_FIELDS: Set<number> = new Set([
  ErrorField.Where,
  ErrorField.InternalQuery,
  ErrorField.InternalPosition,
]);

export class Pipeline {
  readonly #host: PipelineHost;
  readonly #transport: Transport;
  #items: (Pending | undefined)[] = [];
  #head = 0;
  /** Transaction status of the last ReadyForQuery. */
  status: number = TxStatus.Idle;
  /** An extended-protocol error happened: client messages are skipped until Sync. */
  discarding = false;
  /** When the last ReadyForQuery arrived. */
  lastReady = performance.now();
  /** Errors the backend (or the door in its place) answered so far, and notices passed on. */
  errors = 0;
  notices = 0;

  /** The current statement's result so far, and the limits read as it started. */
  #resultRows = 0;
  #resultBytes = 0;
  #limits: ResultLimits | null = null;
  /** The statement went past a limit: its remaining rows are dropped, its end becomes this error. */
  #overLimit: WireError | null = null;
  /** Backend messages are dropped until ReadyForQuery (the rest of a batch after a limit). */
  #dropUntilReady = false;

  #out: Uint8Array[] = [];
  #chunk = EMPTY;
  #runStart = 0;
  #runEnd = 0;
  #msgEnd = 0;

  constructor(host: PipelineHost, transport: Transport) {
    this.#host = host;
    this.#transport = transport;
  }

  get inFlight(): number {
    return this.#items.length - this.#head;
  }

  push(item: Pending): void {
    this.#items.push(item);
  }

  /** An answer of the door's own, in order after everything pending. */
  local(bytes: Uint8Array, onError?: () => void): void {
    if (this.inFlight === 0) this.emit(bytes);
    else this.push({ code: 0, local: bytes, onError });
  }

  /** A client statement the door answered itself (nothing pending): audited like any other. */
  answered(bytes: Uint8Array, audit: Audit): void {
    this.emit(bytes);
    this.#host.record(audit);
  }

  /** Forgets everything pending (the connection is ending). */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  #peek(): Pending | undefined {
    return this.#items[this.#head];
  }

  #take(): Pending {
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    }
    return item;
  }

  /** The head item is answered; the door's own answers right behind it go out too. */
  #complete(): void {
    const item = this.#take();
    if (item.audit && item.code !== FrontendCode.Parse) this.#host.record(item.audit);
    item.onDone?.();
    while (this.#peek()?.local) {
      const local = this.#take();
      this.emit(local.local!);
      local.onDone?.();
    }
  }

  /** Whole backend messages; a returned promise asks the backend to wait for the client. */
  receive(bytes: Uint8Array): void | Promise<void> {
    this.#chunk = bytes;
    this.#runStart = this.#runEnd = 0;
    try {
      for (let at = 0; at < bytes.length;) {
        const end = at + 1 + readInt32(bytes, at + 1);
        this.#msgEnd = end;
        this.#reply(bytes[at], at, end);
        at = end;
      }
      this.#emitRun();
    } catch (error) {
      this.#host.fail(error);
      return;
    } finally {
      this.#chunk = EMPTY;
      this.#runStart = this.#runEnd = 0;
    }
    this.flush();
    if (this.#transport.backlog > HIGH_WATER) return this.#transport.drained();
  }

  /** One dispatch on the backend message type. */
  #reply(code: number, at: number, end: number): void {
    const head = this.#peek();
    if (this.#dropUntilReady && code !== BackendCode.ReadyForQuery) return this.#drop();
    switch (code) {
      case BackendCode.DataRow:
      case BackendCode.CopyData:
        if (head?.rows) {
          head.rows.push(readDataRow(this.#chunk.subarray(at, end)));
          return this.#drop();
        }
        if (!head || head.injected || !this.#counted(end - at)) return this.#drop();
        if (head.audit && code === BackendCode.DataRow) head.audit.rows++;
        return this.#pass();
      case BackendCode.CommandComplete:
      case BackendCode.EmptyQueryResponse:
      case BackendCode.PortalSuspended:
        if (this.#overLimit) return this.#limitReached(head);
        this.#statementEnded();
        this.#forward(head);
        if (head?.code === FrontendCode.Execute) this.#complete();
        return;
      case BackendCode.RowDescription: {
        const renamed = head && !head.injected
          ? this.#host.rowDescription(this.#chunk.subarray(at, end))
          : null;
        if (renamed) this.#replace(renamed);
        else this.#forward(head);
        if (head?.code === FrontendCode.Describe) this.#complete();
        return;
      }
      case BackendCode.NoData:
        this.#forward(head);
        if (head?.code === FrontendCode.Describe) this.#complete();
        return;
      case BackendCode.ParseComplete:
      case BackendCode.BindComplete:
      case BackendCode.CloseComplete:
        this.#forward(head);
        if (head && head.code !== FrontendCode.Query) this.#complete();
        return;
      case BackendCode.CopyDone:
        if (this.#overLimit) return this.#drop();
        return this.#forward(head);
      case BackendCode.ParameterDescription:
      case BackendCode.CopyOutResponse:
        return this.#forward(head);
      case BackendCode.ReadyForQuery:
        return this.ReadyForQuery(head, at);
      case BackendCode.ErrorResponse:
        return this.ErrorResponse(head, this.#chunk.subarray(at, end));
      case BackendCode.NoticeResponse:
        if (!head || head.injected) return this.#drop();
        this.notices++;
        return this.#replace(this.#filter(this.#chunk.subarray(at, end), head.positionMap));
      case BackendCode.CopyInResponse:
        this.#drop();
        return this.#host.copyIn();
      default:
        // ParameterStatus (the door reports settings itself), notifications, anything else
        return this.#drop();
    }
  }

  /**
   * Counts a row of the client's statement against its limits: false once
   * past them (the row is not sent, the statement is stopped).
   */
  #counted(bytes: number): boolean {
    if (this.#overLimit) return false;
    const limits = this.#limits ??= this.#host.resultLimits();
    this.#resultRows++;
    this.#resultBytes += bytes;
    if (
      (limits.rows && this.#resultRows > limits.rows) ||
      (limits.bytes && this.#resultBytes > limits.bytes)
    ) {
      this.#overLimit = limitExceeded(limits, this.#resultRows);
      this.#host.cancelStatement();
      return false;
    }
    return true;
  }

  #statementEnded(): void {
    this.#resultRows = this.#resultBytes = 0;
    this.#limits = null;
    this.#overLimit = null;
  }

  /**
   * The statement that went past a limit ended before the cancel reached it:
   * it ends with the limit's error all the same, and whatever the backend
   * runs after it until ReadyForQuery is dropped, as if it had failed.
   */
  #limitReached(head: Pending | undefined): void {
    this.#drop();
    this.#dropUntilReady = true;
    this.ErrorResponse(head, errorResponse(this.#overLimit!));
  }

  ReadyForQuery(head: Pending | undefined, at: number): void {
    this.#dropUntilReady = false;
    this.#statementEnded();
    this.status = this.#chunk[at + 5];
    this.lastReady = performance.now();
    if (!head || (head.code !== FrontendCode.Sync && head.code !== FrontendCode.Query)) {
      return this.#drop();
    }
    if (head.injected) {
      this.#drop();
      return this.#complete();
    }
    if (this.inFlight === 1 && this.#host.holdsReady(this.status)) {
      const rfq = this.#chunk.slice(at, this.#msgEnd);
      this.#drop();
      this.#complete();
      return this.#host.capture(rfq);
    }
    this.#pass();
    this.#complete();
    if (this.inFlight === 0) this.#host.idle();
  }

  ErrorResponse(head: Pending | undefined, frame: Uint8Array): void {
    const overLimit = this.#overLimit;
    this.errors++;
    this.#statementEnded();
    // The backend's error for a statement stopped at a limit (its cancel, most likely) is replaced.
    if (overLimit && head) head.refusal = overLimit;
    if (!head) return this.#replace(this.#filter(frame));
    if (head.quiet) this.#drop();
    else if (head.refusal) this.#replace(errorResponse(head.refusal));
    else this.#replace(this.#filter(frame, head.positionMap));
    const fields = decodeFields(frame);
    if (head.audit) {
      head.audit.outcome = head.refusal ? "denied" : "error";
      // The door's own refusals name no values (a PHI one names the columns withheld).
      head.audit.error = head.refusal
        ? `${head.refusal.code} ${head.refusal.message}`
        : auditedError(fields);
    }
    if (head.code === FrontendCode.Query) {
      head.onError?.(fields);
      return; // ReadyForQuery follows
    }
    // Extended protocol: the backend skips the rest of the batch until Sync.
    const failed = this.#take();
    if (failed.audit) this.#host.record(failed.audit);
    failed.onError?.(fields);
    for (let item = this.#peek(); item && item.code !== FrontendCode.Sync; item = this.#peek()) {
      this.#take().onError?.(null);
    }
    if (!this.#peek()) this.discarding = true;
  }

  /** The current backend message goes to the client with the ones around it, uncopied. */
  #pass(): void {
    this.#runEnd = this.#msgEnd;
  }

  #drop(): void {
    this.#emitRun();
    this.#runStart = this.#runEnd = this.#msgEnd;
  }

  #forward(head: Pending | undefined): void {
    if (!head || head.injected) this.#drop();
    else this.#pass();
  }

  #replace(bytes: Uint8Array): void {
    this.#drop();
    this.#out.push(bytes);
  }

  #emitRun(): void {
    if (this.#runEnd > this.#runStart) {
      this.#out.push(this.#chunk.subarray(this.#runStart, this.#runEnd));
    }
    this.#runStart = this.#runEnd;
  }

  /** Sends bytes of the door's own after whatever is ahead of them. */
  emit(bytes: Uint8Array): void {
    this.#emitRun();
    this.#out.push(bytes);
  }

  /** Hands everything collected to the client's transport in one write. */
  flush(): void {
    if (!this.#out.length) return;
    const out = this.#out;
    this.#out = [];
    this.#transport.write(concat(out));
  }

  /** A backend error or notice with positions mapped back and physical names hidden. */
  #filter(frame: Uint8Array, positionMap?: (pos: number) => number): Uint8Array {
    const fields = decodeFields(frame).filter(([code]) => !INTERNAL_FIELDS.has(code));
    for (const field of fields) {
      if (field[0] === ErrorField.Position && positionMap) {
        field[1] = String(positionMap(Number(field[1])));
      } else if (TEXT_FIELDS.has(field[0])) field[1] = this.#host.hide(field[1]);
    }
    return encodeFields(frame[0], fields);
  }
}
