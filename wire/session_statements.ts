/**
 * The client's statements, as both query protocols use them: analysed by
 * the sandbox, refused where the backend fails at the same point, their
 * session-level effects noted, and the client's prepared statements made
 * present on whichever backend it leases (under the backend's own names,
 * `lg_p<n>`, shared by clients with the same SQL).
 */
import type { Lease } from "./backend/mod.ts";
import type { Audit } from "./pipeline.ts";
import { SqlState, WireError } from "./protocol/errors.ts";
import { FrontendCode } from "./protocol/message_codes.ts";
import { parse, query, readQuery, SYNC, target } from "./protocol/messages.ts";
import { type Analysis, analyze, type StatementInfo } from "./sandbox.ts";
import { type ClientStatement, refusalError, type SessionState } from "./session_state.ts";

export const NO_TYPES = new Uint8Array(2);
/** Makes the backend fail where the door refused, so transaction and batch state follow PostgreSQL. */
const POISON = "lg_refused";
const POISON_QUERY = query(POISON);
const POISON_PARSE = parse("", POISON, NO_TYPES);

/** The parameter types' bytes as a string (one character per byte), for cache keys. */
export function typesKey(paramTypes: Uint8Array): string {
  let key = "";
  for (let at = 0; at < paramTypes.length; at += 4096) {
    key += String.fromCharCode.apply(
      null,
      paramTypes.subarray(at, at + 4096) as unknown as number[],
    );
  }
  return key;
}

/** A Query's text and analysis, analysed once even when asked twice (before and after a lease). */
export function analyzeQuery(
  s: SessionState,
  message: Uint8Array,
): { text: string; analysis: Analysis } {
  const memo = s.queryAnalysis;
  if (memo?.message === message) return memo;
  const text = readQuery(message);
  s.queryAnalysis = { message, text, analysis: analyze(text, s.scope) };
  return s.queryAnalysis;
}

/** Session-level effects the door tracks, from a statement's analysis. */
export function note(s: SessionState, statements: StatementInfo[]): void {
  for (const statement of statements) {
    if (!statement.shareable) s.shareable = false;
    if (statement.changesSettings) s.settingsDirty = true;
    if (statement.holdCursor) s.holdCursors = true;
    if (statement.pins) s.pinned = true;
  }
}

/**
 * Answers `error` in place of a message. The backend gets a statement
 * that fails at the same point, so a transaction aborts and the rest of
 * an extended batch is skipped exactly as PostgreSQL would; its error is
 * replaced by this one.
 */
export function refuse(s: SessionState, code: number, error: WireError, audit?: Audit): void {
  const lease = s.lease!;
  lease.state.unnamedKey = null;
  if (audit) audit.outcome = "denied";
  if (code === FrontendCode.Query) {
    s.pipeline.push({ code, refusal: error, audit });
    lease.write(POISON_QUERY);
  } else {
    s.pipeline.push({ code: FrontendCode.Parse, refusal: error, audit });
    lease.write(POISON_PARSE);
  }
}

/**
 * DEALLOCATE of a protocol-level statement: the backend knows it under
 * another name, so the door creates the client's name there first and lets
 * the client's DEALLOCATE drop it. Returns the client statements it forgot.
 */
export function deallocate(
  s: SessionState,
  lease: Lease,
  statements: StatementInfo[],
): ClientStatement[] {
  const dropped: ClientStatement[] = [];
  for (const { deallocate: name } of statements) {
    if (name === undefined) continue;
    if (name === null) {
      for (const [key, statement] of [...s.statements]) {
        if (key === "") continue;
        s.statements.delete(key);
        dropped.push(statement);
      }
      lease.state.statements.clear();
      continue;
    }
    const statement = s.statements.get(name);
    if (!statement) continue;
    s.statements.delete(name);
    dropped.push(statement);
    lease.write(target(FrontendCode.Close, "S", name));
    s.pipeline.push({ code: FrontendCode.Close, injected: true, quiet: true });
    lease.write(parse(name, "SELECT 1", NO_TYPES));
    s.pipeline.push({ code: FrontendCode.Parse, injected: true, quiet: true });
    lease.write(SYNC);
    s.pipeline.push({ code: FrontendCode.Sync, injected: true, quiet: true });
  }
  return dropped;
}

/** The statement's name on the leased backend, parsing it there first when needed. */
export function prepare(s: SessionState, lease: Lease, statement: ClientStatement): string {
  const state = lease.state;
  if (statement.name === "") {
    if (state.unnamedKey !== statement.key) {
      s.pipeline.push({
        code: FrontendCode.Parse,
        injected: true,
        onDone: state.parsingUnnamed(statement.key),
        onError: () => (state.unnamedKey = null),
      });
      lease.write(parse("", statement.sql, statement.paramTypes));
    }
    return "";
  }
  let name = state.statements.get(statement.key);
  if (name === undefined) {
    name = state.statements.add(statement.key);
    s.pipeline.push({
      code: FrontendCode.Parse,
      injected: true,
      onError: () => state.statements.delete(statement.key),
    });
    lease.write(parse(name, statement.sql, statement.paramTypes));
  }
  return name;
}

/**
 * The refusal of a statement prepared before the connection's withheld
 * columns changed (a PHI level changed meanwhile), analysed again now; or null.
 */
export function withheldSince(s: SessionState, statement: ClientStatement): WireError | null {
  if (statement.withheld === s.scope.withheldTables) return null;
  const analysis = analyze(statement.text, s.scope);
  if (!analysis.ok) return refusalError(analysis.refusal);
  if (analysis.text !== statement.sql) {
    // It reads a list whose visible columns changed: as PostgreSQL answers when a
    // prepared statement's columns change, so drivers prepare it again.
    return refusalError({
      code: SqlState.FeatureNotSupported,
      message: "cached plan must not change result type",
      hint: "The PHI columns it may read changed: prepare the statement again",
    });
  }
  statement.withheld = s.scope.withheldTables;
  return null;
}

/**
 * The refusal of a FETCH, MOVE or EXECUTE of a cursor or SQL prepared
 * statement defined before the connection's withheld columns changed, or
 * null; records what the statements define or end. Its columns were fixed
 * then, so it could read a column the level no longer allows.
 */
export function definedBefore(s: SessionState, statements: StatementInfo[]): WireError | null {
  for (const { named } of statements) {
    if (named?.use !== "reads") continue;
    const under = s.definedUnder.get(named.name);
    if (under && under !== s.scope.withheldTables) {
      return new WireError(
        SqlState.FeatureNotSupported,
        `The ${named.name} was defined before the PHI columns this connection may read changed`,
        { hint: "Close it and define it again: it then reads the columns the level allows" },
      );
    }
  }
  for (const { named } of statements) {
    if (named?.use === "defines") s.definedUnder.set(named.name, s.scope.withheldTables);
    else if (named?.use === "ends") s.definedUnder.delete(named.name);
  }
  return null;
}

export function missingStatement(name: string): WireError {
  return new WireError(
    SqlState.InvalidSqlStatementName,
    name
      ? `Prepared statement "${name}" does not exist`
      : "Unnamed prepared statement does not exist",
  );
}
