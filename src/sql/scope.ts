/**
 * What the sandbox is told about a connection, and what it answers when it
 * refuses: shared by the analyzer and the rewriter (so neither imports the other's types).
 */
/** Who is connected to which folder: everything the sandbox needs. */
export interface FolderScope {
  containerId: number;
  /** The database name the client used, e.g. "/home/assays". */
  containerPath: string;
  /** Physical schema, folderSchema(containerId). */
  schema: string;
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
