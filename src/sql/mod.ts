/**
 * The SQL door's sandbox: what the wire protocol server calls to check and
 * rewrite a client's SQL, to set up and reset a backend session, and to
 * scrub physical names from the engine's messages.
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
export { installShadowCatalog } from "./catalog.ts";
