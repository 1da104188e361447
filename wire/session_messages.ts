/**
 * A handler per frontend message of the query loop, named after it: the
 * simple query protocol (Query) and the extended one (Parse, Bind, Describe,
 * Execute, Close, Sync). Each is called by `Session`'s dispatch with a lease
 * in hand; it checks and rewrites the message, queues what the reply means
 * in the pipeline and writes to the backend (or answers itself).
 */
import { decodeText, equalBytes } from "./protocol/bytes.ts";
import { SqlState, WireError } from "./protocol/errors.ts";
import { FrontendCode } from "./protocol/message_codes.ts";
import {
  CLOSE_COMPLETE,
  parse,
  PARSE_COMPLETE,
  query,
  readBind,
  readExecute,
  readParse,
  readTarget,
  readyForQuery,
  rebind,
  target,
} from "./protocol/messages.ts";
import { analyze } from "./sandbox.ts";
import { answerSet, ran, takeStatementRefusal } from "./session_leases.ts";
import {
  type ClientStatement,
  newAudit,
  refusalError,
  type SessionState,
} from "./session_state.ts";
import {
  analyzeQuery,
  deallocate,
  definedBefore,
  missingStatement,
  note,
  prepare,
  refuse,
  typesKey,
  withheldSince,
} from "./session_statements.ts";

const UNNAMED_PORTAL = { kind: 0x50, name: "" };

// ---- the simple query protocol ----

export function Query(s: SessionState, message: Uint8Array): void {
  const { text, analysis } = analyzeQuery(s, message);
  s.queryAnalysis = null;
  const audit = newAudit(text);
  const busy = takeStatementRefusal(s);
  if (busy) return refuse(s, FrontendCode.Query, busy, audit);
  if (!analysis.ok) {
    return refuse(s, FrontendCode.Query, refusalError(analysis.refusal), audit);
  }
  const stale = definedBefore(s, analysis.statements);
  if (stale) return refuse(s, FrontendCode.Query, stale, audit);
  if (answerSet(s, analysis.statements, analysis.text, audit)) return;
  const lease = s.lease!;
  note(s, analysis.statements);
  ran(s, analysis.statements, analysis.text);
  // After an unsynced extended message an error would make the backend skip this Query.
  if (s.unsynced || !s.ctx.statementTimes.quick(analysis.statements)) {
    s.shareable = false;
  }
  audit.shape = analysis.statements;
  const dropped = deallocate(s, lease, analysis.statements);
  lease.state.unnamedKey = null; // a simple Query drops the unnamed statement
  s.pipeline.push({
    code: FrontendCode.Query,
    audit,
    positionMap: analysis.positionMap,
    // An earlier statement failed, so the DEALLOCATE most likely did not run: the client keeps them.
    onError: dropped.length
      ? () => {
        for (const statement of dropped) {
          if (!s.statements.has(statement.name)) {
            s.statements.set(statement.name, statement);
          }
        }
      }
      : undefined,
  });
  lease.write(analysis.text === text ? message : query(analysis.text));
}

// ---- the extended query protocol ----

export function Parse(s: SessionState, message: Uint8Array): void {
  const last = s.lastParse;
  if (last && equalBytes(last.message, message)) {
    return parseAllowed(s, message, { ...last.statement });
  }
  const { name, text, paramTypes } = readParse(message);
  if (name.startsWith("lg_")) {
    return refuse(
      s,
      FrontendCode.Parse,
      new WireError(
        SqlState.InsufficientPrivilege,
        `Prepared statement names starting with lg_ are reserved: rename "${name}"`,
      ),
    );
  }
  const analysis = analyze(text, s.scope);
  if (!analysis.ok) {
    return refuse(s, FrontendCode.Parse, refusalError(analysis.refusal), newAudit(text));
  }
  const statement: ClientStatement = {
    name,
    text,
    sql: analysis.text,
    // A copy: the message is a view into a read buffer, which this must not keep alive.
    paramTypes: paramTypes.slice(),
    statements: analysis.statements,
    key: `${s.setup.key}\0${analysis.text}\0${typesKey(paramTypes)}`,
    positionMap: analysis.positionMap,
    withheld: s.scope.withheldTables,
  };
  s.lastParse = { message: message.slice(), statement };
  parseAllowed(s, message, { ...statement });
}

/**
 * A Parse the sandbox allowed. A client repeating its last Parse (most
 * drivers, for every unnamed statement) gets a copy of the same statement,
 * so the text is neither decoded nor analysed again and the cache keys
 * are the same strings, whose hashes are already known.
 */
function parseAllowed(s: SessionState, message: Uint8Array, statement: ClientStatement): void {
  const { name } = statement;
  if (name && s.statements.has(name)) {
    return refuse(
      s,
      FrontendCode.Parse,
      new WireError(
        SqlState.DuplicatePreparedStatement,
        `Prepared statement "${name}" already exists`,
      ),
    );
  }
  note(s, statement.statements);
  const lease = s.lease!;
  const state = lease.state;
  s.statements.set(name, statement);
  const forget = () => {
    if (s.statements.get(name) === statement) s.statements.delete(name);
  };
  const positionMap = statement.positionMap;
  if (name === "") {
    // The same SQL is in the backend's unnamed slot already: skip parsing it there again.
    if (state.unnamedKey === statement.key && state.unnamedReady) {
      return s.pipeline.local(PARSE_COMPLETE, forget);
    }
    s.pipeline.push({
      code: FrontendCode.Parse,
      positionMap,
      audit: newAudit(statement.text),
      onDone: state.parsingUnnamed(statement.key),
      onError: () => {
        state.unnamedKey = null;
        forget();
      },
    });
    lease.write(
      statement.sql === statement.text ? message : parse("", statement.sql, statement.paramTypes),
    );
    return;
  }
  if (state.statements.get(statement.key) !== undefined) {
    return s.pipeline.local(PARSE_COMPLETE, forget);
  }
  const backendName = state.statements.add(statement.key);
  s.pipeline.push({
    code: FrontendCode.Parse,
    positionMap,
    audit: newAudit(statement.text),
    onError: () => {
      state.statements.delete(statement.key);
      forget();
    },
  });
  lease.write(parse(backendName, statement.sql, statement.paramTypes));
}

export function Bind(s: SessionState, message: Uint8Array): void {
  // The unnamed portal of the unnamed statement, as most drivers bind: no names to read.
  const bind = message[5] === 0 && message[6] === 0 ? null : readBind(message);
  const name = bind?.statement ?? "";
  const statement = s.statements.get(name);
  if (!statement) return refuse(s, FrontendCode.Parse, missingStatement(name));
  const withheld = withheldSince(s, statement) ?? definedBefore(s, statement.statements);
  if (withheld) return refuse(s, FrontendCode.Bind, withheld, newAudit(statement.text));
  const lease = s.lease!;
  const backendName = prepare(s, lease, statement);
  s.portals.set(bind?.portal.length ? decodeText(bind.portal) : "", statement);
  s.pipeline.push({ code: FrontendCode.Bind, positionMap: statement.positionMap });
  lease.write(backendName === name ? message : rebind(bind!, backendName));
}

export function Describe(s: SessionState, message: Uint8Array): void {
  const lease = s.lease!;
  // The unnamed portal, as most drivers describe: nothing to read.
  const { kind, name } = message.length === 7 && message[5] === 0x50 && message[6] === 0
    ? UNNAMED_PORTAL
    : readTarget(message);
  if (kind === 0x50) {
    s.pipeline.push({ code: FrontendCode.Describe });
    return lease.write(message);
  }
  const statement = s.statements.get(name);
  if (!statement) return refuse(s, FrontendCode.Parse, missingStatement(name));
  const withheld = withheldSince(s, statement);
  if (withheld) return refuse(s, FrontendCode.Describe, withheld, newAudit(statement.text));
  const backendName = prepare(s, lease, statement);
  s.pipeline.push({ code: FrontendCode.Describe });
  lease.write(backendName === name ? message : target(FrontendCode.Describe, "S", backendName));
}

export function Execute(s: SessionState, message: Uint8Array): void {
  const portal = message[5] === 0 && message.length === 10 ? "" : readExecute(message).portal;
  const statement = s.portals.get(portal);
  const busy = takeStatementRefusal(s);
  if (busy) {
    return refuse(s, FrontendCode.Execute, busy, newAudit(statement?.text ?? portal));
  }
  // A portal bound before its list's withheld columns changed (one resumed after a fetch size).
  const withheld = statement && withheldSince(s, statement);
  if (withheld) return refuse(s, FrontendCode.Execute, withheld, newAudit(statement!.text));
  if (!statement || !s.ctx.statementTimes.quick(statement.statements)) {
    s.shareable = false;
  }
  ran(s, statement?.statements, statement?.sql ?? "");
  s.pipeline.push({
    code: FrontendCode.Execute,
    positionMap: statement?.positionMap,
    audit: newAudit(statement?.text ?? `FETCH FROM "${portal}"`, statement?.statements),
  });
  s.lease!.write(message);
}

export function Close(s: SessionState, message: Uint8Array): void {
  const { kind, name } = readTarget(message);
  if (kind === 0x53) {
    // Backend statements are shared by every client with the same SQL: only the client's name goes.
    s.statements.delete(name);
    return s.pipeline.local(CLOSE_COMPLETE);
  }
  s.portals.delete(name);
  s.pipeline.push({ code: FrontendCode.Close });
  s.lease!.write(message);
}

export function Sync(s: SessionState, message: Uint8Array): void {
  s.pipeline.discarding = false;
  if (!s.lease) return s.pipeline.local(readyForQuery(s.pipeline.status));
  s.pipeline.push({ code: FrontendCode.Sync });
  s.lease.write(message);
}
