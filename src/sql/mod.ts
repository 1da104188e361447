/**
 * The SQL sandbox, one for every door: what the wire protocol server calls
 * to check and rewrite a client's SQL, to set up and reset a backend
 * session, and to scrub physical names from the engine's messages; what
 * LabKey executeSql calls to check one query over the folder's lists
 * (`analyzeQuery`); and the shadow catalog the SQL door reads.
 */
export {
  type Analysis,
  analyze,
  type FolderScope,
  type ShownColumn,
  type SqlRefusal,
  type StatementInfo,
  type StatementKind,
  type WithheldColumn,
  type WithheldTable,
} from "./analyze.ts";
export {
  catalogContextSql,
  hidePhysicalNames,
  sessionResetSql,
  sessionSetupSql,
  shownServerVersion,
} from "./session.ts";
export { ensureShadowCatalog } from "./catalog.ts";
export { analyzeQuery, type QueryAnalysis, type QueryScope } from "./query.ts";
export type { ListsOnly, RewriteScope } from "./scope.ts";
