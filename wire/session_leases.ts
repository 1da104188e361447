/**
 * A client's hold on backends (see "Leases" in wire/README.md): leasing one
 * for a message, putting the client's own settings on it, reading them back
 * after statements that may change them, and giving it back once the client
 * has no session state there; and the user's shares (pin_shares.ts) of
 * backends held across think time and of statements running at once.
 */
import { CAPTURE_SQL, capturedSettings, type Lease } from "./backend/mod.ts";
import { equalBytes } from "./protocol/bytes.ts";
import { ErrorField, WireError } from "./protocol/errors.ts";
import { FrontendCode, TxStatus } from "./protocol/message_codes.ts";
import {
  bindText,
  commandComplete,
  execute,
  parameterStatus,
  parse,
  query,
  readBind,
  readParse,
  readyForQuery,
  SYNC,
  target,
} from "./protocol/messages.ts";
import type { Audit } from "./pipeline.ts";
import type { PinShares } from "./pin_shares.ts";
import { analyze, type StatementInfo } from "./sandbox.ts";
import { CLIENT_LOWERED, type SessionState } from "./session_state.ts";
import { analyzeQuery, NO_TYPES } from "./session_statements.ts";

const CAPTURE_QUERY = query(CAPTURE_SQL);
const SET_CONFIG_PARSE = parse("", "select pg_catalog.set_config($1, $2, false)", NO_TYPES);
const EXECUTE_UNNAMED = execute("");

// ---- leases ----

/**
 * Leases a backend: at once when one is ready (no promise), else after
 * waiting; a lease that comes later is taken up by the next dispatch,
 * which writes to it in the same turn as it flushes.
 */
export function acquire(s: SessionState): void | Promise<void> {
  const arrived = s.arrived;
  if (arrived) {
    s.arrived = null;
    if (arrived.writable) return leased(s, arrived);
    arrived.release(true);
  }
  s.abort ??= new AbortController();
  let lease: Lease | Promise<Lease>;
  try {
    lease = s.ctx.engine.acquire(s.setup, s.owner, { signal: s.abort.signal });
  } catch (error) {
    return Promise.reject(error);
  }
  if (!(lease instanceof Promise)) return leased(s, lease);
  s.acquiring = true;
  return lease.then(
    (lease) => {
      s.acquiring = false;
      if (s.closed) return lease.release(true);
      s.arrived = lease;
    },
    (error) => {
      s.acquiring = false;
      if (error instanceof WireError && error.severity === "FATAL") {
        throw new WireError(error.code, s.hide(error.message), error);
      }
      throw error;
    },
  );
}

function leased(s: SessionState, lease: Lease): void {
  s.lease = lease;
  s.pipeline.status = TxStatus.Idle;
  for (const name of lease.state.statements.takeEvicted()) {
    lease.write(target(FrontendCode.Close, "S", name));
    s.pipeline.push({ code: FrontendCode.Close, injected: true, quiet: true });
  }
  replaySettings(s, lease);
}

/** Sends what was written to the backend, and the door's own answers to the client. */
export function flush(s: SessionState): void {
  const lease = s.lease;
  if (lease) {
    lease.flush(
      s.shareable && !s.unsynced && !s.settingsDirty && !s.holdCursors &&
        !s.pinned && !s.tampered && s.pipeline.status === TxStatus.Idle,
    );
  }
  s.shareable = true;
  // With replies due, the door's own answers go out with them in one write.
  if (s.inFlight === 0) s.pipeline.flush();
}

/** Gives the backend back when the client has no session state on it. */
export function maybeRelease(s: SessionState): void {
  if (s.inFlight === 0) giveStatementShare(s);
  const lease = s.lease;
  if (!lease || s.inFlight > 0 || s.settingsDirty) return;
  if (s.pipeline.status !== TxStatus.Idle || s.holdCursors || s.pinned) {
    // Held across think time: counted, even when it began where no share was asked for.
    if (!s.pinShare) {
      s.pinShare = true;
      s.ctx.pins.add(s.userId!);
    }
    return;
  }
  s.lease = null;
  s.definedUnder.clear();
  lease.release(!s.tampered);
  s.tampered = false;
  giveShare(s);
  released(s);
}

/** Resumes the messages that waited for the lease to be given back. */
export function released(s: SessionState): void {
  const waiting = s.onRelease;
  if (!waiting.length) return;
  s.onRelease = [];
  for (const resume of waiting) resume();
}

// ---- the client's settings on the backend ----

/** Session settings to change on a backend that has `current` so it has `wanted` (null resets). */
function settingsDiff(
  current: Map<string, string>,
  wanted: Map<string, string>,
): [string, string | null][] {
  const changes: [string, string | null][] = [];
  for (const [name, value] of wanted) if (current.get(name) !== value) changes.push([name, value]);
  for (const name of current.keys()) if (!wanted.has(name)) changes.push([name, null]);
  return changes;
}

/** Puts the client's own settings on the backend, each in its own batch so one bad value stays alone. */
function replaySettings(s: SessionState, lease: Lease): void {
  if (lease.state.settings === s.settings) return;
  // A setting the setup made goes back to the setup's value, never to the server's default.
  const changes = settingsDiff(lease.state.settings, s.settings)
    .map(([name, value]): [string, string | null] => [
      name,
      value ?? lease.state.baseline.get(name) ?? null,
    ]);
  lease.state.settings = s.settings; // maps are replaced, never changed in place
  if (!changes.length) return;
  lease.write(SET_CONFIG_PARSE);
  s.pipeline.push({ code: FrontendCode.Parse, injected: true, quiet: true });
  for (const [name, value] of changes) {
    lease.write(bindText("", "", [name, value]));
    s.pipeline.push({ code: FrontendCode.Bind, injected: true, quiet: true });
    lease.write(EXECUTE_UNNAMED);
    s.pipeline.push({
      code: FrontendCode.Execute,
      injected: true,
      quiet: true,
      onError: (fields) => dropSetting(s, lease, name, fields),
    });
    lease.write(SYNC);
    s.pipeline.push({ code: FrontendCode.Sync, injected: true, quiet: true });
  }
  lease.state.unnamedKey = null;
}

function dropSetting(
  s: SessionState,
  lease: Lease,
  name: string,
  fields: [number, string][] | null,
): void {
  const settings = new Map(s.settings);
  settings.delete(name);
  s.settings = settings;
  lease.state.settings = settings;
  const message = fields?.find(([code]) => code === ErrorField.Message)?.[1];
  if (message && !s.ready) s.startupError ??= `Startup parameter ${name}: ${message}`;
}

// ---- settings a SET leaves, learned ----

/**
 * What a SET or RESET of one setting left, by the settings before it and
 * its SQL (`stepKey`): the same statement after the same settings leaves
 * the same ones. The first time, the backend runs it (and checks the value:
 * a bad one gets PostgreSQL's error, and is never learned) and the door
 * reads the settings back; after that, the read-back is skipped, and a
 * Query of that SET alone is answered by the door, its settings put on the
 * backend that runs the session's next statement (replaySettings). Kept a
 * few seconds, so a server whose configuration was reloaded (the defaults
 * a partial DateStyle keeps) is asked again soon.
 */
const LEARNED_MS = 5_000;
const LEARNED_LIMIT = 1_000;
const learnedSteps = new WeakMap<object, Map<string, LearnedStep>>();

interface LearnedStep {
  settings: Map<string, string>;
  /** The backend sent no notice: the door can answer it alone. */
  quiet: boolean;
  at: number;
}

function learned(s: SessionState): Map<string, LearnedStep> {
  let steps = learnedSteps.get(s.ctx.engine);
  if (!steps) learnedSteps.set(s.ctx.engine, steps = new Map());
  return steps;
}

function settingsKey(settings: Map<string, string>): string {
  let key = "";
  for (const [name, value] of settings) key += `${name}=${value}\u0001`;
  return key;
}

/**
 * The key of a SET of one setting that is the only statement since the
 * last ReadyForQuery, outside a transaction, on a backend with the
 * client's settings and nothing else of its own (no hold cursors, no
 * tampered setup); null for any other statement.
 */
function stepKey(
  s: SessionState,
  statements: readonly StatementInfo[],
  sql: string,
): string | null {
  const lease = s.lease;
  return s.statementsSinceReady === 0 && statements.length === 1 && statements[0].oneSetting &&
      lease && s.ready && s.pipeline.status === TxStatus.Idle && !s.holdCursors && !s.tampered &&
      lease.state.settings === s.settings
    ? `${settingsKey(lease.state.baseline)}\u0002${settingsKey(s.settings)}\u0002${sql}`
    : null;
}

function learnedStep(s: SessionState, key: string | null): LearnedStep | undefined {
  const step = key === null ? undefined : learned(s).get(key);
  return step && performance.now() - step.at < LEARNED_MS ? step : undefined;
}

/**
 * A Query that is one learned SET, with nothing else pending: answered as
 * the backend answered it (CommandComplete, ParameterStatus of what
 * changed, ReadyForQuery) and audited. False for anything else.
 */
export function answerSet(
  s: SessionState,
  statements: readonly StatementInfo[],
  sql: string,
  audit: Audit,
): boolean {
  if (s.inFlight > 0 || s.unsynced || s.settingsDirty) return false;
  const step = learnedStep(s, stepKey(s, statements, sql));
  if (!step?.quiet) return false;
  const before = s.reported();
  s.settings = step.settings; // the backend's stay as they are: replaySettings() on the next lease
  s.pipeline.emit(commandComplete(statements[0].oneSetting!));
  reportChanges(s, before);
  audit.shape = statements;
  s.pipeline.answered(readyForQuery(TxStatus.Idle), audit);
  idle(s);
  return true;
}

/** Counts the client statements a Query or Execute runs, noting a SET whose step may be learned. */
export function ran(
  s: SessionState,
  statements: readonly StatementInfo[] | undefined,
  sql: string,
): void {
  const key = statements ? stepKey(s, statements, sql) : null;
  s.statementsSinceReady += statements?.length ?? 1;
  s.settingsStep = key === null
    ? null
    : { key, errors: s.pipeline.errors, notices: s.pipeline.notices };
}

/** Nothing is due after a ReadyForQuery: the next statement starts a count; the backend may go back. */
export function idle(s: SessionState): void {
  s.statementsSinceReady = 0;
  s.settingsStep = null;
  maybeRelease(s);
}

/**
 * Reads back the session's settings and open cursors after statements
 * that may have changed them, tells the client what changed, then sends
 * the held ReadyForQuery (`rfq`) or calls `done`.
 */
export function capture(s: SessionState, rfq: Uint8Array | null, done?: () => void): void {
  const lease = s.lease!;
  const step = s.settingsStep;
  s.settingsStep = null;
  // Still the only statement since ReadyForQuery, and it did not fail.
  const key = step && s.statementsSinceReady === 1 && step.errors === s.pipeline.errors
    ? step.key
    : null;
  const known = learnedStep(s, key);
  if (known) {
    const before = s.reported();
    s.settings = known.settings;
    lease.state.settings = known.settings;
    s.settingsDirty = false;
    reportChanges(s, before);
    if (rfq) s.pipeline.emit(rfq);
    done?.();
    if (s.inFlight === 0) idle(s);
    return;
  }
  const rows: (string | null)[][] = [];
  let failed = false;
  lease.state.unnamedKey = null;
  s.pipeline.push({
    code: FrontendCode.Query,
    injected: true,
    quiet: true,
    rows,
    onError: () => (failed = true),
    onDone: () => {
      // Unknown settings on the backend: it is reset or closed at release, the client keeps its own.
      if (failed) s.tampered = true;
      else {
        captured(s, lease, rows);
        if (key !== null && !s.tampered && !s.holdCursors) {
          const steps = learned(s);
          if (steps.size >= LEARNED_LIMIT) steps.clear();
          const quiet = step!.notices === s.pipeline.notices;
          steps.set(key, { settings: s.settings, quiet, at: performance.now() });
        }
      }
      s.settingsDirty = false;
      if (rfq) s.pipeline.emit(rfq);
      done?.();
      if (s.inFlight === 0) idle(s);
    },
  });
  lease.write(CAPTURE_QUERY);
  lease.flush();
}

function captured(s: SessionState, lease: Lease, rows: (string | null)[][]): void {
  const before = s.reported();
  const captured = capturedSettings(rows);
  const baseline = lease.state.baseline;
  const settings = new Map<string, string>();
  for (const [name, value] of captured) {
    if (!baseline.has(name) || (name === CLIENT_LOWERED && baseline.get(name) !== value)) {
      settings.set(name, value);
    }
  }
  for (const [name, value] of baseline) {
    if (name !== CLIENT_LOWERED && captured.get(name) !== value) s.tampered = true;
  }
  s.settings = settings;
  lease.state.settings = settings;
  s.holdCursors = Number(rows.find(([name]) => name === "")?.[1] ?? 0) > 0;
  reportChanges(s, before);
}

/** ParameterStatus for each reported setting that changed since `before`. */
function reportChanges(s: SessionState, before: Map<string, string>): void {
  if (!s.ready) return;
  for (const [name, value] of s.reported()) {
    if (before.get(name) !== value) s.pipeline.emit(parameterStatus(name, value));
  }
}

// ---- the user's shares ----

/**
 * Before a message that will keep the backend across think time (BEGIN,
 * DECLARE … WITH HOLD, PREPARE) leases one: takes one of the user's
 * pinned shares, or a promise that waits for one and rejects with 53300
 * after the wait.
 */
export function takeShare(
  s: SessionState,
  code: number,
  message: Uint8Array,
): Promise<void> | undefined {
  if (s.pinShare || !s.ready || !holdsBackend(s, code, message)) return;
  const got = share(s, s.ctx.pins);
  if (got === true) {
    s.pinShare = true;
    return;
  }
  return got.then(() => {
    s.pinShare = true;
    if (s.closed) giveShare(s);
  });
}

export function giveShare(s: SessionState): void {
  if (!s.pinShare) return;
  s.pinShare = false;
  s.ctx.pins.give(s.userId!);
}

/**
 * Before a Query or Execute: one of the user's running-statement shares,
 * or a promise that waits for one; when none comes in time (or a cancel
 * request ends the wait) the statement is refused when it is handled, so
 * transaction and batch state follow PostgreSQL's as for any error.
 */
export function takeStatementShare(s: SessionState): Promise<void> | undefined {
  if (s.statementShare || s.statementRefusal || !s.ready) return;
  const got = share(s, s.ctx.statements);
  if (got === true) {
    s.statementShare = true;
    return;
  }
  return got.then(() => {
    s.statementShare = true;
    if (s.closed) giveStatementShare(s);
  }, (error) => {
    if (!(error instanceof WireError)) throw error;
    s.abort = null;
    s.statementRefusal = error;
  });
}

/** No replies are due: the connection runs no statement now. */
export function giveStatementShare(s: SessionState): void {
  if (!s.statementShare) return;
  s.statementShare = false;
  s.ctx.statements.give(s.userId!);
}

/** The statement refused because the user's statement shares stayed taken, if any. */
export function takeStatementRefusal(s: SessionState): WireError | null {
  const refusal = s.statementRefusal;
  s.statementRefusal = null;
  return refusal;
}

/**
 * One of the user's shares of `shares`: at once (true), or a promise that
 * waits for one and rejects after the wait, or when a cancel request
 * comes (57014).
 */
function share(s: SessionState, shares: PinShares): true | Promise<void> {
  const userId = s.userId!;
  if (shares.take(userId)) return true;
  s.acquiring = true;
  s.abort ??= new AbortController();
  return shares.wait(userId, s.abort.signal).finally(() => (s.acquiring = false));
}

/** Whether the message starts something that keeps the backend across think time. */
function holdsBackend(s: SessionState, code: number, message: Uint8Array): boolean {
  let statements: StatementInfo[] | undefined;
  if (code === FrontendCode.Query) {
    const { analysis } = analyzeQuery(s, message);
    if (analysis.ok) statements = analysis.statements;
  } else if (code === FrontendCode.Parse) {
    const last = s.lastParse;
    if (last && equalBytes(last.message, message)) statements = last.statement.statements;
    else {
      const analysis = analyze(readParse(message).text, s.scope);
      if (analysis.ok) statements = analysis.statements;
    }
  } else if (code === FrontendCode.Bind) {
    const bound = message[5] === 0 && message[6] === 0 ? "" : readBind(message).statement;
    statements = s.statements.get(bound)?.statements;
  }
  return statements?.some((statement) => statement.holdsBackend) ?? false;
}
