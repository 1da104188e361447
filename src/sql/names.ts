/**
 * What the rewriter and its checks of types (types.ts) and functions
 * (functions.ts) share: the physical
 * schemas the sandbox maps names to, how a refusal travels, the walker the
 * checks are handed, and small readers of parse-tree nodes.
 */
import type { AstNode, Token } from "./parser.ts";
import type { RewriteScope, SqlRefusal } from "./scope.ts";
import type { SourceText } from "./source.ts";

/** Physical schemas of the shadow catalog, and of the core views (user-facing by design). */
export const CATALOG_SCHEMA = "lg_catalog";
export const INFORMATION_SCHEMA = "lg_information_schema";
export const CORE_SCHEMA = "core";

/** What a refusal of a write suggests instead. */
export const READ_ONLY_HINT = "Change data in the labgate web UI or through the HTTP API";

/** A refusal on its way out of the walk. */
export class Refused extends Error {
  constructor(readonly refusal: SqlRefusal) {
    super(refusal.message);
  }
}

/** Where a client's schema name for relations lives; undefined: it does not exist. */
export function relationSchema(schema: string, scope: RewriteScope): string | undefined {
  if (schema === "pg_catalog") return CATALOG_SCHEMA;
  if (schema === "information_schema") return INFORMATION_SCHEMA;
  return userSchema(schema, scope);
}

/** The schemas that hold the user's own objects (a query over lists only: the lists). */
export function userSchema(schema: string, scope: RewriteScope): string | undefined {
  if (schema === "lists") return scope.schema;
  if (schema === "core" && !scope.listsOnly) return CORE_SCHEMA;
  return undefined;
}

/** The strings of a list of String nodes, e.g. a function's qualified name. */
export function strings(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) =>
    ((item as AstNode).String as { sval?: string } | undefined)?.sval ?? ""
  );
}

/** A string literal: its value and where it is. */
export function stringConstant(node: unknown): { value: string; location: number } | undefined {
  const constant = (node as AstNode | undefined)?.A_Const as AstNode | undefined;
  const value = (constant?.sval as { sval?: string } | undefined)?.sval;
  if (constant === undefined || constant.sval === undefined) return undefined;
  return { value: value ?? "", location: constant.location as number };
}

/** `InsertStmt` → `INSERT`, `CreateTableAsStmt` → `CREATE TABLE AS`. */
export function commandTag(type: string): string {
  return type.replace(/Stmt$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
}

/** What a check of part of a statement may do with the statement being rewritten. */
export interface Walker {
  readonly source: SourceText;
  readonly scope: RewriteScope;
  /** The statement reads the shadow catalog (set by what redirects to it). */
  shadowed: boolean;
  /** The statement calls set_config(): session settings may change. */
  setsConfig: boolean;
  refuse(
    code: string,
    message: string,
    options?: { hint?: string; detail?: string; at?: number },
  ): never;
  replace(start: number, end: number, text: string): void;
  /** Walks any part of a parse tree. */
  visit(value: unknown, ctes?: ReadonlySet<string>): void;
  /** The tokens of a dotted name of `count` parts at byte `at`, and the tokens after it. */
  nameTokens(at: number, count: number): { parts: Token[]; rest: Token[] };
  tokenText(token: Token): string;
}
