/**
 * The SQL door's first wall: every statement a client sends is parsed with
 * PostgreSQL's grammar, checked against what a reader may do, and rewritten
 * to the physical names of the connected folder before the engine sees it.
 */
import { type AstNode, parse, type RawStatement } from "./parser.ts";
import {
  FREE_SETTINGS,
  GUARDED_SETTINGS,
  type GuardedSetting,
  SEARCH_PATH_NAMES,
  TRUE_WORDS,
  VIRTUAL_SETTINGS,
  VISIBLE_SETTINGS,
} from "./policy.ts";
import { CATALOG_SCHEMA, commandTag, Refused, Rewriter } from "./rewriter.ts";
import { fillShape, numbersAsParameters, parameterSlots } from "./shape.ts";
import { SourceText } from "./source.ts";
import type { FolderScope, SqlRefusal } from "./scope.ts";

export type {
  FolderScope,
  ShownColumn,
  SqlRefusal,
  WithheldColumn,
  WithheldTable,
} from "./scope.ts";

export type StatementKind =
  | "select"
  | "show"
  | "set"
  | "reset"
  | "begin"
  | "commit"
  | "rollback"
  | "savepoint"
  | "release"
  | "rollback_to"
  | "declare"
  | "fetch"
  | "move"
  | "close"
  | "deallocate"
  | "discard"
  | "copy_to"
  | "prepare"
  | "execute"
  | "explain"
  | "lock"
  | "empty";

export interface StatementInfo {
  kind: StatementKind;
  /** DECLARE ... WITH HOLD: the cursor outlives its transaction. */
  holdCursor?: boolean;
  /** SET, RESET, DISCARD ALL: session settings may have changed. */
  changesSettings?: boolean;
  /** SQL PREPARE: session state that lives until DEALLOCATE. */
  pins?: boolean;
  /** DEALLOCATE (and DISCARD ALL): the prepared statement's name, null for all. */
  deallocate?: string | null;
}

/** An analysis; the wire server keeps the same shape with its own view of each statement. */
export type Analysis<Statement = StatementInfo> =
  | {
    ok: true;
    /** Rewritten SQL for the backend; the same statements in the same order. */
    text: string;
    statements: Statement[];
    /** Maps an engine error position (1-based, in `text`) to the client's text. */
    positionMap: (backendPosition: number) => number;
  }
  | { ok: false; refusal: SqlRefusal };

/** The cache keeps at most this many analyses... */
const CACHE_ENTRIES = 5000;
/** ...and this many characters of SQL (keys and rewritten texts). */
const CACHE_CHARACTERS = 8_000_000;
/** Longer texts are analysed every time (they rarely repeat). */
const CACHE_TEXT_LIMIT = 64 * 1024;
const cache = new Map<string, Analysis>();
let cachedCharacters = 0;

/**
 * Checks and rewrites a client's SQL for the folder in `scope`. Results are
 * cached by folder and text, least recently used first out. Texts that
 * differ only in their numbers share the analysis of their shape
 * (shape.ts); they are not cached one by one, so a client sending a new
 * number with every query does not push everyone else's entries out.
 */
export function analyze(text: string, scope: FolderScope): Analysis {
  if (text.length > CACHE_TEXT_LIMIT) return analyzeText(text, scope);
  const prefix = `${scope.containerId}:${scope.containerPath}:${scope.statementTimeoutMs}:${
    scope.shownColumns.map((c) => c.name).join(",")
  }:${scope.phiLevel}:${
    scope.withheldTables.map((t) => `${t.table}(${t.withheld.map((c) => c.column)})`).join(",")
  }:`;
  return cached(prefix + text) ?? fromShape(text, scope, prefix) ??
    remember(prefix + text, analyzeText(text, scope));
}

function cached(key: string): Analysis | undefined {
  const analysis = cache.get(key);
  if (analysis) {
    cache.delete(key);
    cache.set(key, analysis);
  }
  return analysis;
}

function remember(key: string, analysis: Analysis): Analysis {
  cache.set(key, analysis);
  cachedCharacters += size(key, analysis);
  while (cache.size > CACHE_ENTRIES || cachedCharacters > CACHE_CHARACTERS) {
    const [oldest, evicted] = cache.entries().next().value!;
    cache.delete(oldest);
    cachedCharacters -= size(oldest, evicted);
  }
  return analysis;
}

/** Where `$1`… stand in a shape's rewritten text (null: the shape cannot be filled). */
const slotsOf = new WeakMap<Analysis, number[] | null>();

/** The analysis of the text's shape with its numbers filled back in, if it has one that passes. */
function fromShape(text: string, scope: FolderScope, prefix: string): Analysis | undefined {
  const shape = numbersAsParameters(text);
  if (!shape) return undefined;
  const key = prefix + shape.text;
  const general = cached(key) ?? remember(key, analyzeText(shape.text, scope));
  if (!general.ok) return undefined;
  let slots = slotsOf.get(general);
  if (slots === undefined) {
    slots = parameterSlots(general.text, shape.numbers.length);
    slotsOf.set(general, slots);
  }
  if (!slots) return undefined;
  return {
    ok: true,
    statements: general.statements,
    ...fillShape(shape, general.text, slots, general.positionMap),
  };
}

function size(key: string, analysis: Analysis): number {
  return key.length + (analysis.ok ? analysis.text.length : 0);
}

function analyzeText(text: string, scope: FolderScope): Analysis {
  const parsed = parse(text);
  if (!parsed.ok) {
    return {
      ok: false,
      refusal: { code: "42601", message: parsed.message, position: parsed.cursor + 1 },
    };
  }
  const source = new SourceText(text);
  const rewriter = new Rewriter(source, scope);
  let current = 0;
  try {
    const statements: StatementInfo[] = parsed.statements.length === 0
      ? [{ kind: "empty" }]
      : parsed.statements.map((raw, i) => {
        current = i;
        const info = statement(rewriter, raw);
        rewriter.checkWithheldNames();
        return info;
      });
    return { ok: true, statements, ...source.apply(rewriter.splices) };
  } catch (error) {
    if (error instanceof Refused) {
      return { ok: false, refusal: inContext(error.refusal, current, parsed.statements.length) };
    }
    return {
      ok: false,
      refusal: {
        code: "XX000",
        message: `The SQL door could not analyze this statement: ${(error as Error).message}`,
        hint: "Report this statement to your labgate administrator",
      },
    };
  }
}

/**
 * A refusal in a string of several statements: the door checks the whole
 * string before any of it runs (as PostgreSQL does with syntax errors), so
 * it says that none of it ran and which statement was refused.
 */
function inContext(refusal: SqlRefusal, index: number, count: number): SqlRefusal {
  if (count < 2) return refusal;
  const detail = `Statement ${index + 1} of ${count} in this query string was refused, ` +
    "so none of them ran.";
  return { ...refusal, detail: refusal.detail ? `${refusal.detail}\n${detail}` : detail };
}

const READ_ONLY_HINT = "Change data in the labgate web UI or through the HTTP API";

/** Statements that are not writes but reach outside the user's data. */
const NOT_WRITES = new Set([
  "DoStmt",
  "CallStmt",
  "LoadStmt",
  "ListenStmt",
  "UnlistenStmt",
  "NotifyStmt",
  "CheckPointStmt",
  "AlterSystemStmt",
]);

const EXPLAIN_OPTIONS = new Set([
  "analyze",
  "costs",
  "buffers",
  "timing",
  "summary",
  "format",
  "wal",
  "memory",
  "serialize",
  "generic_plan",
]);

function statement(rw: Rewriter, raw: RawStatement): StatementInfo {
  const [type, body] = Object.entries(raw.stmt)[0] as [string, AstNode];
  const start = raw.stmt_location ?? 0;
  const span = { start, end: raw.stmt_len ? start + raw.stmt_len : rw.source.byteLength };
  const replaceStatement = (text: string) => rw.replace(span.start, span.end, text);
  rw.shadowed = false;
  rw.core = false;
  rw.setsConfig = false;
  if (NAMED.has(type)) reservedName(rw, body.name ?? body.portalname);
  switch (type) {
    case "SelectStmt":
      rw.visit(raw.stmt);
      return rw.setsConfig ? { kind: "select", changesSettings: true } : { kind: "select" };
    case "VariableShowStmt":
      return show(rw, body.name as string, replaceStatement);
    case "VariableSetStmt":
      return set(rw, body, replaceStatement);
    case "TransactionStmt":
      return transaction(rw, body);
    case "DeclareCursorStmt": {
      query(rw, body.query as AstNode, "DECLARE CURSOR");
      const hold = ((body.options as number) & CURSOR_OPT_HOLD) !== 0;
      return { kind: "declare", ...(hold ? { holdCursor: true } : {}) };
    }
    case "FetchStmt":
      return { kind: body.ismove ? "move" : "fetch" };
    case "ClosePortalStmt":
      return { kind: "close" };
    case "DeallocateStmt":
      return { kind: "deallocate", deallocate: body.isall ? null : body.name as string };
    case "DiscardStmt":
      if (body.target !== "DISCARD_ALL") return { kind: "discard" };
      replaceStatement(`CALL ${CATALOG_SCHEMA}.discard_all()`);
      return { kind: "discard", changesSettings: true, deallocate: null };
    case "CopyStmt":
      return copy(rw, body);
    case "PrepareStmt":
      query(rw, body.query as AstNode, "PREPARE");
      rw.visit(body.argtypes);
      return { kind: "prepare", pins: true };
    case "ExecuteStmt":
      rw.visit(body.params);
      return { kind: "execute" };
    case "ExplainStmt":
      return explain(rw, body, span);
    case "LockStmt":
      return lock(rw, body);
    default:
      if (NOT_WRITES.has(type)) {
        rw.refuse("42501", `${commandTag(type)} is not available through the SQL door`, {
          hint: "The SQL door runs queries: SELECT, SHOW, SET, cursors and transactions",
        });
      }
      rw.refuse(
        "25006",
        `Cannot run ${commandTag(type)} through the SQL door: it is read-only`,
        { hint: READ_ONLY_HINT },
      );
  }
}

const CURSOR_OPT_HOLD = 0x0020;

/** Statements that name a prepared statement or a cursor. */
const NAMED = new Set([
  "PrepareStmt",
  "ExecuteStmt",
  "DeallocateStmt",
  "DeclareCursorStmt",
  "FetchStmt",
  "ClosePortalStmt",
]);

/** Prepared statements and cursors named lg_... are the wire server's own. */
function reservedName(rw: Rewriter, name: unknown): void {
  if (typeof name === "string" && name.toLowerCase().startsWith("lg_")) {
    rw.refuse("42939", `Names starting with lg_ are reserved by labgate: rename "${name}"`, {
      hint: "Choose another prepared statement or cursor name",
    });
  }
}

/** The query of DECLARE, PREPARE and COPY: a SELECT, VALUES or WITH. */
function query(rw: Rewriter, node: AstNode, what: string): void {
  if (!("SelectStmt" in node)) {
    rw.refuse(
      "25006",
      `Cannot ${what} ${commandTag(Object.keys(node)[0])} through the SQL door: it is read-only`,
      { hint: READ_ONLY_HINT },
    );
  }
  rw.visit(node);
}

function show(rw: Rewriter, name: string, replace: (text: string) => void): StatementInfo {
  const lower = name.toLowerCase();
  if (lower === "all") {
    replace(
      `SELECT name, setting, short_desc AS description FROM ${CATALOG_SCHEMA}.pg_settings ORDER BY name`,
    );
  } else if (VIRTUAL_SETTINGS.includes(lower)) {
    replace(`SELECT ${CATALOG_SCHEMA}.current_setting('${lower}') AS ${lower}`);
  } else if (!VISIBLE_SETTINGS.has(lower)) {
    rw.refuse("42501", `Setting ${name} cannot be read through the SQL door`, {
      hint: "SHOW ALL lists the settings you can read",
    });
  }
  return { kind: "show" };
}

function set(rw: Rewriter, body: AstNode, replace: (text: string) => void): StatementInfo {
  const kind = body.kind as string;
  const name = ((body.name as string | undefined) ?? "").toLowerCase();
  const local = body.is_local ? "LOCAL " : "";
  if (kind === "VAR_RESET_ALL") {
    replace(`CALL ${CATALOG_SCHEMA}.reset_all()`);
    return { kind: "reset", changesSettings: true };
  }
  if (kind === "VAR_SET_MULTI") {
    if (name !== "transaction" && name !== "session characteristics") {
      rw.refuse("42501", "Transaction snapshots cannot be imported through the SQL door");
    }
    for (const option of body.args as AstNode[]) {
      const element = option.DefElem as AstNode;
      if (element.defname === "transaction_read_only" && constant(element.arg) === 0) {
        refuseReadWrite(rw);
      }
    }
    return { kind: "set", changesSettings: true };
  }
  const result: StatementInfo = {
    kind: kind === "VAR_RESET" ? "reset" : "set",
    changesSettings: true,
  };
  if (FREE_SETTINGS.includes(name)) return result;
  if ((GUARDED_SETTINGS as readonly string[]).includes(name)) {
    const setting = name as GuardedSetting;
    if (kind === "VAR_RESET" || kind === "VAR_SET_DEFAULT") {
      replace(`SET ${local}${name} = ${guardedValue(setting, rw)}`);
    } else if (kind === "VAR_SET_VALUE") {
      checkGuarded(
        rw,
        setting,
        (body.args as unknown[]).map(constant),
        (value) => replace(`SET ${local}${name} = ${value}`),
      );
    }
    return result;
  }
  if (name === "role" || name === "session_authorization") {
    rw.refuse("42501", "The role cannot be changed through the SQL door", {
      hint: "Connect again with the account you want to use",
    });
  }
  rw.refuse("42501", `Setting ${body.name} cannot be changed through the SQL door`, {
    hint: "SHOW ALL lists the settings you can read; date, time, number and client settings " +
      "can be changed",
  });
}

/** What RESET gives a guarded setting: its labgate value. */
function guardedValue(setting: GuardedSetting, rw: Rewriter): string {
  switch (setting) {
    case "client_encoding":
      return "'UTF8'";
    case "standard_conforming_strings":
    case "default_transaction_read_only":
    case "transaction_read_only":
      return "on";
    case "statement_timeout":
      return String(rw.scope.statementTimeoutMs);
    case "search_path":
      return `pg_catalog, ${rw.scope.schema}`;
  }
}

function checkGuarded(
  rw: Rewriter,
  setting: GuardedSetting,
  values: (string | number | undefined)[],
  rewrite: (value: string) => void,
): void {
  const text = String(values[0] ?? "").toLowerCase();
  switch (setting) {
    case "client_encoding":
      if (!["utf8", "utf-8", "unicode", "utf_8"].includes(text)) {
        rw.refuse("0A000", `Client encoding ${values[0]} is not supported by the SQL door`, {
          hint: "Use UTF8",
        });
      }
      return;
    case "standard_conforming_strings":
      if (!TRUE_WORDS.has(text)) {
        rw.refuse("0A000", "Setting standard_conforming_strings must stay on in the SQL door", {
          hint: "Write backslashes in E'...' strings instead",
        });
      }
      return;
    case "default_transaction_read_only":
    case "transaction_read_only":
      if (!TRUE_WORDS.has(text)) refuseReadWrite(rw);
      return;
    case "statement_timeout": {
      const ms = durationMs(values[0]);
      const max = rw.scope.statementTimeoutMs;
      // 0 asks for no timeout (pg_dump does): the door's own limit is the longest there is.
      if (ms === 0) return rewrite(String(max));
      if (ms === undefined || ms < 0 || ms > max) {
        rw.refuse("42501", `The statement timeout can only be lowered, to at most ${max} ms`, {
          hint: `Give a time from 1 ms to ${max} ms, e.g. SET statement_timeout = '30s'`,
        });
      }
      return;
    }
    case "search_path": {
      if (!values.every((v) => typeof v === "string" && SEARCH_PATH_NAMES.includes(v))) {
        rw.refuse("42501", "The search path can only name lists and pg_catalog in the SQL door", {
          hint: "Write core.<view> and information_schema.<view> in full",
        });
      }
      rewrite(guardedValue(setting, rw));
      return;
    }
  }
}

function refuseReadWrite(rw: Rewriter): never {
  rw.refuse("25006", "Transactions through the SQL door are read-only", {
    hint: READ_ONLY_HINT,
  });
}

/** The value of an A_Const: a string or a number; 0 when PostgreSQL omits it. */
function constant(node: unknown): string | number | undefined {
  const value = (node as AstNode | undefined)?.A_Const as AstNode | undefined;
  if (!value) return undefined;
  if (value.sval) return (value.sval as { sval?: string }).sval ?? "";
  if (value.ival) return (value.ival as { ival?: number }).ival ?? 0;
  if (value.fval) return Number((value.fval as { fval?: string }).fval);
  if (value.boolval) return (value.boolval as { boolval?: boolean }).boolval ? 1 : 0;
  return undefined;
}

const UNITS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A statement_timeout value in milliseconds: 5000, '5000', '5s', '1min'. */
function durationMs(value: string | number | undefined): number | undefined {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value ?? "");
  if (!match) return undefined;
  const unit = UNITS[match[2].toLowerCase() || "ms"];
  return unit === undefined ? undefined : Number(match[1]) * unit;
}

function transaction(rw: Rewriter, body: AstNode): StatementInfo {
  switch (body.kind) {
    case "TRANS_STMT_BEGIN":
    case "TRANS_STMT_START":
      for (const option of (body.options as AstNode[] | undefined) ?? []) {
        const element = option.DefElem as AstNode;
        if (element.defname === "transaction_read_only" && constant(element.arg) === 0) {
          refuseReadWrite(rw);
        }
      }
      return { kind: "begin" };
    case "TRANS_STMT_COMMIT":
      return { kind: "commit" };
    case "TRANS_STMT_ROLLBACK":
      return { kind: "rollback" };
    case "TRANS_STMT_SAVEPOINT":
      return { kind: "savepoint" };
    case "TRANS_STMT_RELEASE":
      return { kind: "release" };
    case "TRANS_STMT_ROLLBACK_TO":
      return { kind: "rollback_to" };
    default:
      rw.refuse("0A000", "Two-phase commit is not available through the SQL door", {
        hint: "Use BEGIN and COMMIT",
      });
  }
}

function copy(rw: Rewriter, body: AstNode): StatementInfo {
  if (body.is_from) {
    rw.refuse("25006", "Cannot run COPY FROM through the SQL door: it is read-only", {
      hint: READ_ONLY_HINT,
    });
  }
  if (body.filename !== undefined || body.is_program) {
    rw.refuse("42501", "COPY to a server file or program is not available through the SQL door", {
      hint: "Use COPY ... TO STDOUT and save the output on your side",
    });
  }
  if (body.query) query(rw, body.query as AstNode, "COPY");
  else rw.copyRelation(body);
  return { kind: "copy_to" };
}

/** PostgreSQL's AccessShareLock: the lock a SELECT takes. */
const ACCESS_SHARE = 1;

/**
 * LOCK … IN ACCESS SHARE MODE of the folder's lists: pg_dump takes it on each
 * table it dumps, and it only keeps the table from being dropped meanwhile.
 */
function lock(rw: Rewriter, body: AstNode): StatementInfo {
  if (body.mode !== ACCESS_SHARE) {
    rw.refuse("25006", "Only LOCK … IN ACCESS SHARE MODE is available through the SQL door", {
      hint: READ_ONLY_HINT,
    });
  }
  for (const item of body.relations as AstNode[]) {
    const relation = item.RangeVar as AstNode;
    const schema = relation.schemaname as string | undefined;
    if ((schema ?? "lists") !== "lists" || (relation.relname as string).startsWith("pg_")) {
      rw.refuse("42501", "Only lists can be locked through the SQL door", {
        at: relation.location as number,
      });
    }
  }
  rw.lockRelations(body.relations);
  return { kind: "lock" };
}

function explain(rw: Rewriter, body: AstNode, span: { start: number; end: number }): StatementInfo {
  const options = ((body.options as AstNode[] | undefined) ?? []).map((option) => {
    const element = option.DefElem as AstNode;
    const name = element.defname as string;
    const off = ["false", "off", "0", "no"].includes(
      String(stringValue(element.arg)).toLowerCase(),
    );
    if (!EXPLAIN_OPTIONS.has(name) && !off) {
      rw.refuse("42501", `EXPLAIN ${name.toUpperCase()} is not available through the SQL door`, {
        hint: "It would show labgate's physical names",
      });
    }
    return { name, off };
  });
  query(rw, body.query as AstNode, "EXPLAIN");
  if (rw.shadowed) explainCatalogQuery(rw, body, options, span);
  return { kind: "explain" };
}

/** What EXPLAIN of a catalog query may show. */
const CATALOG_EXPLAIN_OPTIONS = new Set(["format", "summary"]);

/**
 * EXPLAIN of a query that reads the shadow catalog: the plan would name the
 * shadow views' insides, and its row counts and estimates would count
 * objects the user cannot see. So it runs without costs, and never with
 * ANALYZE, inside lg_catalog.explain(), which renames what the plan shows
 * as errors are renamed. Core views read labgate's own tables: refused.
 */
function explainCatalogQuery(
  rw: Rewriter,
  body: AstNode,
  options: { name: string; off: boolean }[],
  span: { start: number; end: number },
): void {
  if (rw.core) {
    rw.refuse("0A000", "EXPLAIN is not available for queries that read core views", {
      hint: "Core views are computed from labgate's own tables: run the query itself",
    });
  }
  for (const { name, off } of options) {
    if (off || CATALOG_EXPLAIN_OPTIONS.has(name)) continue;
    rw.refuse("0A000", `EXPLAIN ${name.toUpperCase()} is not available for catalog queries`, {
      hint: "Counts and costs would include objects you cannot see: use EXPLAIN alone, " +
        "or EXPLAIN (FORMAT ...)",
    });
  }
  if (JSON.stringify(body.query).includes('"ParamRef"')) {
    rw.refuse("0A000", "EXPLAIN of a catalog query cannot take parameters", {
      hint: "Write the values into the query",
    });
  }
  const [keyword, next] = rw.source.tokensAfter(span.start);
  if (!options.some((o) => o.name === "costs")) {
    if (options.length) rw.replace(next.end, next.end, "COSTS OFF, ");
    else rw.replace(keyword.end, keyword.end, " (COSTS OFF)");
  }
  const inside = rw.splices.filter((s) => s.start >= span.start && s.end <= span.end);
  rw.splices.splice(0, rw.splices.length, ...rw.splices.filter((s) => !inside.includes(s)));
  const statement = new SourceText(rw.source.slice(span.start, span.end)).apply(
    inside.map((s) => ({ ...s, start: s.start - span.start, end: s.end - span.start })),
  ).text;
  rw.replace(
    span.start,
    span.end,
    `SELECT * FROM ${CATALOG_SCHEMA}.explain('${statement.replaceAll("'", "''")}')`,
  );
}

function stringValue(node: unknown): string | number | undefined {
  const text = ((node as AstNode | undefined)?.String as { sval?: string } | undefined)?.sval;
  return text ?? constant(node);
}
