/**
 * What the sandbox is told about a connection or a query, and what it
 * answers when it refuses: shared by the analyzer, the query checker and the
 * rewriter (so none imports another's types).
 */
import type { WithheldRule } from "./withheld.ts";

/** What the rewriter needs to know, whichever door asks: the folder and what of it SQL reads. */
export interface RewriteScope {
  /** The folder's path, e.g. "/home/assays": the SQL door's database name, which may qualify names. */
  containerPath: string;
  /** Physical schema, folderSchema(containerId). */
  schema: string;
  /** The list columns defined with capitals: a quoted `"SampleId"` reaches them. */
  shownColumns: readonly { name: string }[];
  /** The folder's lists with columns above the PHI level in force (src/sql/withheld.ts). */
  withheldTables: readonly WithheldRule[];
  /**
   * Set for a query that may read the folder's lists and nothing else
   * (src/sql/query.ts): no catalog, no core views, no function that needs
   * the SQL door's session. Unset: the SQL door's reach.
   */
  listsOnly?: ListsOnly;
}

/** A query over the folder's lists only, and who runs it. */
export interface ListsOnly {
  /** The door, as refusals name it: "executeSql". */
  door: string;
  /** The folder's lists, by stored (lower-case) table name. */
  lists: ReadonlySet<string>;
}

/** Who is connected to which folder: everything the SQL door's sandbox needs. */
export interface FolderScope extends RewriteScope {
  /** The SQL door reaches further than the lists (analyze() caches by the rest of the scope). */
  listsOnly?: undefined;
  containerId: number;
  /** Folder role, folderRole(installId, containerId). */
  role: string;
  userId: number;
  /** What current_user, session_user and pg_roles show. */
  userEmail: string;
  /** What pg_database and core.containers list. */
  readableFolders: { id: number; path: string }[];
  /** The longest a statement may run; clients may only lower it. */
  statementTimeoutMs: number;
  /**
   * The folder's list columns whose name has capitals (`SampleId`): stored
   * lower case (`sampleid`), shown as defined in results and the catalog,
   * and a quoted `"SampleId"` reaches them. By table OID and column number.
   */
  shownColumns: readonly ShownColumn[];
  /** The PHI level in force for the connection (src/security/phi.ts). */
  phiLevel: string;
  /**
   * The folder's lists with columns above `phiLevel`: SQL reads each as its
   * other columns (so `*`, whole-row references, row_to_json and COPY see
   * those only), the catalog leaves the withheld ones out, and a statement
   * naming one is refused (src/sql/withheld.ts).
   */
  withheldTables: readonly WithheldTable[];
}

export interface WithheldTable {
  /** As the client names it: `lists.<table>`. */
  table: string;
  /** The stored names of the columns SQL reads, in column order. */
  visible: readonly string[];
  withheld: readonly WithheldColumn[];
}

export interface WithheldColumn {
  /** The stored (lower-case) name. */
  column: string;
  /** pg_attribute's key of the column, for the shadow catalog. */
  relation: number;
  attnum: number;
  /** The refusal of a statement naming it: its name and the level it needs, never a value. */
  message: string;
}

export interface ShownColumn {
  relation: number;
  attnum: number;
  /** The list's table, as information_schema names it. */
  table: string;
  /** As defined, e.g. `SampleId`; the stored name is its lower case. */
  name: string;
}

/** Why a client's SQL is not run, as an ErrorResponse would carry it. */
export interface SqlRefusal {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  /** 1-based character offset in the client's text, like PostgreSQL. */
  position?: number;
}

/** What the SQL door is told about each statement it runs. */
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
  /** The lists it reads without their columns above the PHI level: `t (a, b)` (for the audit log). */
  withheld?: string[];
  /** DECLARE, FETCH, MOVE, CLOSE: the cursor; PREPARE, EXECUTE: the statement (absent for ALL). */
  name?: string;
  /** SET, RESET, DISCARD ALL: session settings may have changed. */
  changesSettings?: boolean;
  /**
   * SET or RESET of one named setting for the session (not LOCAL, not RESET
   * ALL): the CommandComplete tag of the statement as rewritten.
   */
  oneSetting?: "SET" | "RESET";
  /** SQL PREPARE: session state that lives until DEALLOCATE. */
  pins?: boolean;
  /** DEALLOCATE (and DISCARD ALL): the prepared statement's name, null for all. */
  deallocate?: string | null;
}
