/**
 * The SQL door's first wall: every statement a client sends is parsed with
 * PostgreSQL's grammar, checked against what a reader may do, and rewritten
 * to the physical names of the connected folder before the engine sees it.
 * SET and SHOW are checked in session_settings.ts, EXPLAIN's options in
 * explain.ts, the statements' names and calls by the rewriter.
 */
import { type AstNode, parse, type RawStatement } from "./parser.ts";
import { explainCatalogQuery, explainOptions } from "./explain.ts";
import { CATALOG_SCHEMA, commandTag, READ_ONLY_HINT, Refused } from "./names.ts";
import { Rewriter } from "./rewriter.ts";
import { constant, refuseReadWrite, set, show } from "./session_settings.ts";
import { fillShape, numbersAsParameters, parameterSlots } from "./shape.ts";
import { SourceText } from "./source.ts";
import type { FolderScope, SqlRefusal, StatementInfo } from "./scope.ts";

export type {
  FolderScope,
  ShownColumn,
  SqlRefusal,
  StatementInfo,
  StatementKind,
  WithheldColumn,
  WithheldTable,
} from "./scope.ts";

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
        const withheld = rewriter.endStatement();
        return withheld.length ? { ...info, withheld } : info;
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

/** The rewriter as the SQL door runs it: over a connection's scope. */
type SqlDoor = Rewriter<FolderScope>;

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

function statement(rw: SqlDoor, raw: RawStatement): StatementInfo {
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
      return {
        kind: "declare",
        name: body.portalname as string,
        ...(hold ? { holdCursor: true } : {}),
      };
    }
    case "FetchStmt":
      return { kind: body.ismove ? "move" : "fetch", name: body.portalname as string };
    case "ClosePortalStmt":
      return body.portalname
        ? { kind: "close", name: body.portalname as string }
        : { kind: "close" };
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
      return { kind: "prepare", pins: true, name: body.name as string };
    case "ExecuteStmt":
      rw.visit(body.params);
      return { kind: "execute", name: body.name as string };
    case "ExplainStmt": {
      const options = explainOptions(rw, body);
      query(rw, body.query as AstNode, "EXPLAIN");
      if (rw.shadowed) explainCatalogQuery(rw, body, options, span);
      return { kind: "explain" };
    }
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
function reservedName(rw: SqlDoor, name: unknown): void {
  if (typeof name === "string" && name.toLowerCase().startsWith("lg_")) {
    rw.refuse("42939", `Names starting with lg_ are reserved by labgate: rename "${name}"`, {
      hint: "Choose another prepared statement or cursor name",
    });
  }
}

/** The query of DECLARE, PREPARE and COPY: a SELECT, VALUES or WITH. */
function query(rw: SqlDoor, node: AstNode, what: string): void {
  if (!("SelectStmt" in node)) {
    rw.refuse(
      "25006",
      `Cannot ${what} ${commandTag(Object.keys(node)[0])} through the SQL door: it is read-only`,
      { hint: READ_ONLY_HINT },
    );
  }
  rw.visit(node);
}

function transaction(rw: SqlDoor, body: AstNode): StatementInfo {
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

function copy(rw: SqlDoor, body: AstNode): StatementInfo {
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
function lock(rw: SqlDoor, body: AstNode): StatementInfo {
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
