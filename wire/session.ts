/**
 * One client connection of the SQL door, after startup negotiation:
 * signing in (session_login.ts), then the query loop. Client messages are
 * checked and rewritten one by one, a handler per frontend message
 * (session_messages.ts), and forwarded to a leased backend
 * (session_leases.ts); the pipeline (pipeline.ts) orders the replies. What
 * the connection knows between messages and between leases — its prepared
 * statements, portals and settings — is its `SessionState`
 * (session_state.ts), replayed on whichever backend it gets.
 */
import type { SqlDoorSettings } from "../src/doors/sql/settings.ts";
import { DATABASE_UNAVAILABLE, isDatabaseUnavailable } from "../src/errors.ts";
import type { BackendOwner } from "./backend/mod.ts";
import { ProtocolError, Writer } from "./protocol/bytes.ts";
import { fatal, SqlState, WireError } from "./protocol/errors.ts";
import { FrontendCode, TxStatus } from "./protocol/message_codes.ts";
import { errorResponse, query, readyForQuery } from "./protocol/messages.ts";
import { type Audit, Pipeline } from "./pipeline.ts";
import type { LoginWatch } from "./revocation.ts";
import { catalogContextSql, type FolderScope, sessionSetupSql } from "./sandbox.ts";
import {
  acquire,
  capture,
  flush,
  giveShare,
  giveStatementShare,
  idle,
  maybeRelease,
  released,
  takeShare,
  takeStatementShare,
} from "./session_leases.ts";
import { signIn } from "./session_login.ts";
import { Bind, Close, Describe, Execute, Parse, Query, Sync } from "./session_messages.ts";
import {
  auditUnavailable,
  CLIENT_LOWERED,
  type DoorContext,
  type DoorSession,
  SessionState,
  type StartupInfo,
} from "./session_state.ts";
import { refuse } from "./session_statements.ts";
import type { Transport } from "./protocol/transport.ts";

const COPY_FAIL = new Writer().begin(FrontendCode.CopyFail)
  .str("COPY FROM STDIN is not allowed through the SQL door").end().take();

export class Session implements DoorSession, BackendOwner {
  readonly #s: SessionState;

  constructor(ctx: DoorContext, transport: Transport, startup: StartupInfo) {
    const s = new SessionState(ctx, transport, startup);
    this.#s = s;
    s.owner = this;
    s.pipeline = new Pipeline({
      hide: (text) => s.hide(text),
      record: (audit) => this.#record(audit),
      holdsReady: (status) => status === TxStatus.Idle && (s.settingsDirty || s.holdCursors),
      capture: (rfq) => capture(s, rfq),
      idle: () => idle(s),
      copyIn: () => {
        s.lease?.write(COPY_FAIL);
        s.lease?.flush();
      },
      fail: (error) => this.#fail(error),
      resultLimits: () => {
        const { maxResultRows, maxResultBytes } = s.ctx.settings();
        return { rows: maxResultRows, bytes: maxResultBytes };
      },
      cancelStatement: () => s.lease?.cancel(),
      rowDescription: (frame) => s.shownNames?.rename(frame) ?? null,
    }, transport);
  }

  get pid(): number {
    return this.#s.pid;
  }

  get secret(): number {
    return this.#s.secret;
  }

  get userId(): number | null {
    return this.#s.userId;
  }

  get closed(): boolean {
    return this.#s.closed;
  }

  get watch(): LoginWatch {
    return this.#s.watch;
  }

  /** Serves the connection until it ends. */
  async run(): Promise<void> {
    try {
      await signIn(this.#s, this);
      await this.#serve();
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#cleanup();
    }
  }

  #fail(error: unknown): void {
    if (this.#s.closed) return;
    let reply: WireError;
    if (error instanceof WireError) reply = error;
    else if (error instanceof ProtocolError) {
      reply = fatal(SqlState.ProtocolViolation, error.message);
    } else if (isDatabaseUnavailable(error)) {
      reply = fatal(SqlState.ConnectionFailure, DATABASE_UNAVAILABLE);
    } else {
      this.#s.ctx.log(
        `SQL door: connection ended by an internal error: ${(error as Error)?.stack ?? error}`,
      );
      reply = fatal(SqlState.InternalError, "Internal error in the SQL door: reconnect and retry");
    }
    this.#terminate(reply);
  }

  /** Sends a FATAL error and ends the connection. */
  #terminate(error: WireError): void {
    const s = this.#s;
    if (s.closed) return;
    s.pipeline.emit(
      errorResponse(
        new WireError(error.code, s.scope ? s.hide(error.message) : error.message, {
          severity: "FATAL",
          detail: error.detail,
          hint: error.hint,
        }),
      ),
    );
    s.pipeline.flush();
    this.#cleanup();
  }

  // ---- the query loop ----

  async #serve(): Promise<void> {
    const s = this.#s;
    for (;;) {
      let message: Uint8Array | null;
      while (!s.closed && (message = s.buffer.next())) {
        // A message that must wait for a backend is dispatched again once it may go on, so
        // everything written to a backend is flushed in the same turn it was written.
        for (let wait = this.#dispatch(message); wait; wait = this.#dispatch(message)) {
          flush(s);
          if (!(await wait) || s.closed) break;
        }
      }
      if (s.closed) return;
      flush(s);
      const chunk = await s.transport.read();
      if (!chunk) return;
      s.lastActivity = performance.now();
      s.buffer.push(chunk);
    }
  }

  /**
   * One dispatch on the frontend message type. A promise means the message
   * waits: true once it is to be dispatched again, false when it was
   * answered meanwhile (no backend could be had).
   */
  #dispatch(message: Uint8Array): void | Promise<boolean> {
    const s = this.#s;
    const code = message[0];
    if (code === FrontendCode.Terminate) return this.#cleanup();
    if (s.ctx.svc.audit.failing) throw auditUnavailable(s.ctx.svc.audit.failure);
    if (s.pipeline.discarding && code !== FrontendCode.Sync) return;
    if (s.lease && !s.lease.writable) {
      // Another client holds this backend alone now: once our replies are in, lease another.
      if (s.inFlight === 0) maybeRelease(s);
      if (s.lease) return new Promise((resolve) => s.onRelease.push(() => resolve(true)));
    }
    if (s.watch.stale) {
      const settling = this.#settle();
      if (settling) return settling;
    }
    switch (code) {
      case FrontendCode.Sync:
        s.unsynced = false;
        return Sync(s, message);
      case FrontendCode.Flush:
        s.unsynced = true;
        return s.lease?.write(message);
      case FrontendCode.CopyData:
      case FrontendCode.CopyDone:
      case FrontendCode.CopyFail:
        return; // outside COPY FROM STDIN, which the door never starts, PostgreSQL ignores them too
    }
    if (code === FrontendCode.Close && message[5] === 0x53) return Close(s, message);
    if (code === FrontendCode.Query || code === FrontendCode.Execute) {
      const waiting = takeStatementShare(s);
      if (waiting) return waiting.then(() => true);
    }
    if (!s.lease) {
      const waiting = takeShare(s, code, message) ?? acquire(s);
      if (waiting) {
        return waiting.then(
          () => true,
          (error) => {
            this.#acquireFailed(code, error);
            return false;
          },
        );
      }
    }
    return this.#handle(code, message);
  }

  /** A message with a lease in hand, to the handler named after it (session_messages.ts). */
  #handle(code: number, message: Uint8Array): void {
    const s = this.#s;
    if (code !== FrontendCode.Query) s.unsynced = true;
    switch (code) {
      case FrontendCode.Query:
        return Query(s, message);
      case FrontendCode.Parse:
        return Parse(s, message);
      case FrontendCode.Bind:
        return Bind(s, message);
      case FrontendCode.Describe:
        return Describe(s, message);
      case FrontendCode.Execute:
        return Execute(s, message);
      case FrontendCode.Close:
        return Close(s, message);
      case FrontendCode.FunctionCall:
        return refuse(
          s,
          FrontendCode.Query,
          new WireError(
            SqlState.FeatureNotSupported,
            "The function call protocol is not supported: use SELECT",
          ),
        );
      default:
        throw new ProtocolError(`Invalid frontend message type "${String.fromCharCode(code)}"`);
    }
  }

  #acquireFailed(code: number, error: unknown): void {
    const s = this.#s;
    if (!(error instanceof WireError) || error.severity === "FATAL") throw error;
    giveShare(s);
    if (s.inFlight === 0) giveStatementShare(s);
    s.pipeline.emit(errorResponse(error));
    if (code === FrontendCode.Query || code === FrontendCode.FunctionCall) {
      s.pipeline.emit(readyForQuery(s.pipeline.status));
    } else s.pipeline.discarding = true;
  }

  // ---- backend replies, ordered by the pipeline ----

  onBackendData(bytes: Uint8Array): void | Promise<void> {
    if (!this.#s.closed) return this.#s.pipeline.receive(bytes);
  }

  onBackendLost(error: WireError): void {
    const s = this.#s;
    s.lease = null;
    giveShare(s);
    giveStatementShare(s);
    this.#terminate(error);
    released(s);
  }

  #record(audit: Audit): void {
    const s = this.#s;
    const ms = performance.now() - audit.started;
    if (audit.shape) s.ctx.statementTimes.record(audit.shape, ms);
    s.ctx.svc.audit.record({
      ...s.auditBase,
      outcome: audit.outcome,
      detail: audit.text,
      rows: audit.rows,
      durationMs: Math.round(ms * 1000) / 1000,
      message: audit.error ? this.#explained(audit.error) : this.#withheld(audit),
    });
  }

  /** What the statement read without: the lists whose columns above the level it did not see. */
  #withheld(audit: Audit): string | null {
    const lists = audit.shape?.flatMap((statement) => statement.withheld ?? []) ?? [];
    if (!lists.length) return null;
    return `Columns withheld above PHI level ${this.#s.scope.phiLevel}: ${
      [...new Set(lists)].join(", ")
    }`;
  }

  /** A statement ended by the time limit says which limit it was, in the audit log. */
  #explained(error: string): string {
    if (!error.startsWith(SqlState.QueryCanceled) || !error.includes("statement timeout")) {
      return error;
    }
    const lowered = Number(this.#s.settings.get(CLIENT_LOWERED));
    return lowered > 0
      ? `${error} (limit ${lowered / 1000} s, lowered by the client's SET statement_timeout)`
      : `${error} (limit ${this.#s.scope.statementTimeoutMs / 1000} s, the connection's)`;
  }

  /**
   * Ended for the web side (the embedded database's session, held in a
   * transaction): audited as the session's other entries are, the cause in
   * _detail_.
   */
  preempted(error: WireError): void {
    const s = this.#s;
    s.ctx.svc.audit.record({
      ...s.auditBase,
      event: "sql.preempted",
      outcome: "error",
      detail: error.detail ?? null,
      message: `${error.code} ${error.message}`,
    });
  }

  // ---- revocation (revocation.ts) ----

  /** Checks the changes heard before the message goes on; a narrowing reaches the leased backend. */
  #settle(): Promise<boolean> | undefined {
    const s = this.#s;
    if (s.watch.heard > s.watch.checked) {
      return s.ctx.revocations.settle(this).then(() => true);
    }
    if (!s.narrowedOnLease) {
      s.watch.stale = false;
      return;
    }
    // Not between the messages of an extended batch: an error there skips everything to Sync.
    if (s.unsynced) return;
    s.narrowedOnLease = false;
    s.watch.stale = false;
    const lease = s.lease;
    if (!lease) return;
    // In an aborted transaction this fails, and the ROLLBACK that must follow releases the lease.
    s.pipeline.push({ code: FrontendCode.Query, injected: true, quiet: true });
    lease.write(query(catalogContextSql(s.scope)));
    // Set up for another scope now: reset when given back, never reused as is.
    s.tampered = true;
  }

  revoke(cause: string): void {
    const s = this.#s;
    if (s.closed) return;
    s.ctx.svc.audit.record({
      ...s.auditBase,
      event: "sql.revoked",
      outcome: "denied",
      message: cause,
    });
    this.#terminate(fatal(SqlState.InvalidAuthorization, `terminating connection: ${cause}`, {
      hint: "Sign in again with a credential that is still valid",
    }));
  }

  rescope(
    folders: FolderScope["readableFolders"],
    withheldTables: FolderScope["withheldTables"],
  ): void {
    const s = this.#s;
    const before = s.scope.readableFolders;
    if (
      JSON.stringify(before) === JSON.stringify(folders) &&
      JSON.stringify(s.scope.withheldTables) === JSON.stringify(withheldTables)
    ) return;
    s.scope = { ...s.scope, readableFolders: folders, withheldTables };
    const setupSql = sessionSetupSql(s.scope);
    s.setup = { ...s.setup, key: s.ctx.scopeKey(setupSql), setupSql };
    s.lastParse = null;
    if (s.lease) {
      s.narrowedOnLease = true;
      s.watch.stale = true;
    }
    const removed = before.filter(({ id }) => !folders.some((folder) => folder.id === id));
    if (!removed.length) return;
    s.ctx.svc.audit.record({
      ...s.auditBase,
      event: "sql.narrowed",
      outcome: "ok",
      detail: `no longer readable: ${removed.map(({ path }) => path).join(", ")}`,
    });
  }

  // ---- from the door ----

  /** A CancelRequest for this connection. */
  cancel(): void {
    const s = this.#s;
    if (s.acquiring) {
      s.abort?.abort();
      s.abort = null;
    } else if (s.lease && s.inFlight > 0) s.lease.cancel();
  }

  /** Closes the connection if it sat idle too long; called about once a second. */
  checkIdle(now: number, settings: SqlDoorSettings): void {
    const s = this.#s;
    if (s.closed || s.acquiring || s.inFlight > 0) return;
    if (!s.ready) return; // the sign-in deadline applies (sign_ins.ts)
    const idle = now - Math.max(s.lastActivity, s.pipeline.lastReady);
    if (s.lease) {
      const limitMs = Math.min(settings.idleInTransactionSeconds * 1000, s.ctx.maxIdleLeaseMs);
      if (idle > limitMs) {
        // PostgreSQL's own text, which drivers and pools may match on.
        this.#terminate(fatal(
          SqlState.IdleInTransactionTimeout,
          "terminating connection due to idle-in-transaction timeout",
          {
            hint:
              `A transaction (or WITH HOLD cursor) holds one of the door's database sessions: ` +
              `commit or roll back within ${limitMs / 1000} s of the last statement`,
          },
        ));
      }
    } else if (idle > settings.idleTimeoutMinutes * 60_000) {
      this.#terminate(
        fatal(
          SqlState.IdleSessionTimeout,
          "Terminating connection after it was idle for too long: reconnect",
        ),
      );
    }
  }

  /** Ends the connection with a FATAL `error` (SQL door switched off, shutdown, sign-in timeout). */
  end(error: WireError): void {
    this.#terminate(error);
  }

  #cleanup(): void {
    const s = this.#s;
    if (s.closed) return;
    s.closed = true;
    s.watch?.stop();
    s.abort?.abort();
    const lease = s.lease;
    s.lease = null;
    if (lease) {
      const busy = s.inFlight > 0;
      if (busy) lease.cancel();
      lease.release(
        !busy && s.pipeline.status === TxStatus.Idle && !s.holdCursors && !s.pinned &&
          !s.tampered,
      );
    }
    s.arrived?.release(true);
    s.arrived = null;
    giveShare(s);
    giveStatementShare(s);
    s.pipeline.clear();
    released(s);
    s.ctx.leave(this);
    s.transport.end();
  }
}
