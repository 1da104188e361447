/**
 * The one module through which the wire server uses the SQL sandbox
 * (`src/sql/`): analysis and rewriting of client SQL, the per-lease session
 * setup and reset, and hiding physical names in messages.
 *
 * TEMPORARY STAND-IN until `src/sql/` lands: it rewrites only `lists.<table>`
 * (found with the real PostgreSQL parser), refuses a short list of
 * statements that would steer the session out of its folder, and leaves
 * writes to the engine's read-only transaction and the folder role. Replace
 * the bodies below with calls to `src/sql/`; the exported shapes are what
 * the wire server relies on.
 */
import { loadModule, parseSync } from "libpg-query";
import { ensureFolderSchema } from "../src/data/containers.ts";
import { folderRole, folderSchema } from "../src/data/physical.ts";
import type { Container, User } from "../src/db/schema.ts";
import { Permission } from "../src/security/permissions.ts";
import type { Services } from "../src/services.ts";

/** What a session may see: one folder, as one user. Same shape as `src/sql`'s. */
export interface FolderScope {
  containerId: number;
  containerPath: string;
  schema: string;
  role: string;
  userId: number;
  userEmail: string;
  readableFolders: { id: number; path: string }[];
}

/** Why a statement is refused, as an ErrorResponse. Same shape as `src/sql`'s. */
export interface SqlRefusal {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: number;
}

/** What the wire server needs to know about each statement of a client's text. */
export interface StatementInfo {
  /** The parse node, e.g. "SelectStmt", "VariableSetStmt". */
  kind: string;
  /** DECLARE … WITH HOLD: the cursor outlives the transaction, so the session stays pinned. */
  holdCursor: boolean;
  /** SET / RESET: session settings may change and must be captured for replay. */
  changesSettings: boolean;
  /** Session state the door cannot replay (SQL PREPARE): the backend stays pinned. */
  pins: boolean;
  /** DEALLOCATE: the statement name, or null for DEALLOCATE ALL. */
  deallocate?: string | null;
}

export type Analysis =
  | {
    ok: true;
    /** The text to run on the backend. */
    text: string;
    statements: StatementInfo[];
    /** Maps a 1-based position in `text` back to the client's text. */
    positionMap: (backendPos: number) => number;
  }
  | { ok: false; refusal: SqlRefusal };

/** Loads the SQL parser; call once before `analyze`. */
export async function loadSandbox(): Promise<void> {
  await loadModule();
}

// ---- stand-in below ----

const CURSOR_OPT_HOLD = 0x20;

/** Statements the stand-in passes on; writes go on so the engine's own walls refuse them. */
const ALLOWED = new Set([
  "SelectStmt",
  "ExplainStmt",
  "VariableSetStmt",
  "VariableShowStmt",
  "TransactionStmt",
  "DeclareCursorStmt",
  "FetchStmt",
  "ClosePortalStmt",
  "DeallocateStmt",
  "PrepareStmt",
  "ExecuteStmt",
  "CopyStmt",
  "InsertStmt",
  "UpdateStmt",
  "DeleteStmt",
]);

/** Settings the session setup owns; a client may not change them. */
const PROTECTED_SETTINGS = new Set([
  "role",
  "session_authorization",
  "search_path",
  "default_transaction_read_only",
  "transaction_read_only",
  "statement_timeout",
]);

type Node = Record<string, unknown>;

/** Calls `visit` for every object in a parse tree with its node name. */
function walk(value: unknown, visit: (name: string, node: Node) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit);
  } else if (value && typeof value === "object") {
    for (const [name, child] of Object.entries(value)) {
      if (child && typeof child === "object" && !Array.isArray(child)) visit(name, child as Node);
      walk(child, visit);
    }
  }
}

function refusal(code: string, message: string, position?: number): Analysis {
  return { ok: false, refusal: { code, message, position } };
}

function statementLabel(kind: string): string {
  return kind.replace(/Stmt$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
}

/** Byte offset (libpg_query) → UTF-16 index in `text`. */
function charIndex(text: string, byteOffset: number): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    if (bytes >= byteOffset) return i;
    const c = text.codePointAt(i)!;
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (c >= 0x10000) i++;
  }
  return text.length;
}

/** Rewrites client SQL for the folder, or refuses it. */
export function analyze(text: string, scope: FolderScope): Analysis {
  let tree: { stmts?: { stmt?: unknown }[] };
  try {
    tree = text ? parseSync(text) : {};
  } catch (error) {
    const details = (error as { sqlDetails?: { message: string; cursorPosition: number } })
      .sqlDetails;
    return refusal("42601", details?.message ?? String(error), (details?.cursorPosition ?? 0) + 1);
  }
  const statements: StatementInfo[] = [];
  const schemaAt: number[] = [];
  for (const raw of tree.stmts ?? []) {
    const stmt = raw.stmt as Node;
    const kind = Object.keys(stmt)[0];
    const node = stmt[kind] as Node;
    if (!ALLOWED.has(kind)) {
      return refusal("25006", `The SQL door is read-only: ${statementLabel(kind)} is not allowed`);
    }
    const problem = checkStatement(kind, node);
    if (problem) return refusal("42501", problem);
    statements.push({
      kind,
      holdCursor: kind === "DeclareCursorStmt" &&
        ((node.options as number) & CURSOR_OPT_HOLD) !== 0,
      changesSettings: kind === "VariableSetStmt",
      pins: kind === "PrepareStmt",
      deallocate: kind === "DeallocateStmt" ? (node.isall ? null : node.name as string) : undefined,
    });
    walk(stmt, (_name, child) => {
      if (child.schemaname === "lists" && typeof child.relname === "string") {
        schemaAt.push(child.location as number);
      }
    });
  }
  return rewriteSchema(text, scope.schema, schemaAt, statements);
}

function checkStatement(kind: string, node: Node): string | null {
  if (kind === "VariableSetStmt") {
    if (node.kind === "VAR_RESET_ALL") return "RESET ALL is not allowed: reset settings one by one";
    const name = String(node.name ?? "").toLowerCase();
    if (PROTECTED_SETTINGS.has(name)) {
      return `Setting ${name} is managed by labgate and cannot be changed`;
    }
  }
  const statementName = String(node.name ?? "");
  if (
    (kind === "PrepareStmt" || kind === "ExecuteStmt" || kind === "DeallocateStmt") &&
    statementName.startsWith("lg_")
  ) {
    return `Prepared statement names starting with lg_ are reserved: rename "${statementName}"`;
  }
  if (kind === "CopyStmt" && (node.is_from || node.filename || node.is_program)) {
    return "COPY can only send query results to the client: use COPY (SELECT …) TO STDOUT";
  }
  let readWrite = false;
  walk(node, (name, child) => {
    if (name === "DefElem" && child.defname === "transaction_read_only") {
      const value = (child.arg as { A_Const?: { ival?: { ival?: number } } })?.A_Const?.ival;
      if (!value?.ival) readWrite = true;
    }
  });
  return readWrite ? "Transactions through the SQL door are read-only: remove READ WRITE" : null;
}

function rewriteSchema(
  text: string,
  schema: string,
  byteOffsets: number[],
  statements: StatementInfo[],
): Analysis {
  const starts = byteOffsets.map((b) => charIndex(text, b)).sort((a, b) => a - b);
  let out = "";
  let from = 0;
  /** [start in rewritten text, length there, length in the client's text] */
  const edits: [number, number, number][] = [];
  for (const start of starts) {
    const quoted = text[start] === '"';
    const length = quoted ? 7 : 5;
    out += text.slice(from, start);
    edits.push([out.length, schema.length, length]);
    out += schema;
    from = start + length;
  }
  out += text.slice(from);
  return {
    ok: true,
    text: out,
    statements,
    positionMap(backendPos) {
      let shift = 0;
      for (const [at, newLength, oldLength] of edits) {
        if (backendPos - 1 < at) break;
        if (backendPos - 1 < at + newLength) return at - shift + 1;
        shift += newLength - oldLength;
      }
      return backendPos - shift;
    },
  };
}

/** Statements that put a backend session into the folder's sandbox. */
export function sessionSetupSql(scope: FolderScope, o: { statementTimeoutMs: number }): string {
  return [
    `SET ROLE ${scope.role}`,
    `SET search_path = ${scope.schema}`,
    "SET default_transaction_read_only = on",
    `SET statement_timeout = ${Math.max(0, Math.floor(o.statementTimeoutMs))}`,
  ].join("; ");
}

/** Statements that take a shared session (PGlite) back to neutral. */
export function sessionResetSql(): string {
  return "RESET ROLE; RESET search_path; RESET default_transaction_read_only; RESET statement_timeout";
}

/** Error and notice text with physical names replaced by what the client sees. */
export function hidePhysicalNames(text: string, scope: FolderScope): string {
  return text.replaceAll(scope.role, scope.userEmail).replaceAll(scope.schema, "lists");
}

const ensuring = new Map<number, Promise<void>>();

/**
 * The scope of a session of `user` in `container` (which the user can read).
 * The stand-in also creates the folder's schema and role when the folder
 * has no list yet, so a session can be set up for it.
 */
export async function folderScope(
  svc: Services,
  user: User,
  container: Container,
): Promise<FolderScope> {
  const bits = await svc.permissions.resolveAll(user.id);
  const readable = [...bits].filter(([, b]) => (b & Permission.READ) !== 0).map(([id]) => id);
  const folders = readable.length
    ? await svc.db.selectFrom("containers").select(["id", "path"]).where("id", "in", readable)
      .orderBy("path").execute()
    : [];
  const hasLists = await svc.db.selectFrom("lists").select("id")
    .where("container_id", "=", container.id).limit(1).executeTakeFirst();
  if (!hasLists) {
    let pending = ensuring.get(container.id);
    if (!pending) {
      pending = ensureFolderSchema(svc, svc.database.root, container.id)
        .finally(() => ensuring.delete(container.id));
      ensuring.set(container.id, pending);
    }
    await pending;
  }
  return {
    containerId: container.id,
    containerPath: container.path,
    schema: folderSchema(container.id),
    role: folderRole(svc.database.installId, container.id),
    userId: user.id,
    userEmail: user.email,
    readableFolders: folders,
  };
}
