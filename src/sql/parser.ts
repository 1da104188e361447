/**
 * The real PostgreSQL grammar: libpg_query compiled to WASM, loaded once
 * when this module is first imported, so parsing is synchronous afterwards.
 * Locations in its answers are byte offsets into the UTF-8 text.
 */
import { hasSqlDetails, loadModule, parseSync, scanSync } from "libpg-query";

await loadModule();

/** One node of the parse tree, as libpg_query's JSON gives it. */
export type AstNode = Record<string, unknown>;

export interface RawStatement {
  stmt: AstNode;
  /** Byte offset of the statement's first token. */
  stmt_location?: number;
  /** Byte length; absent for the last statement (it runs to the end). */
  stmt_len?: number;
}

export interface Token {
  /** Byte offsets, end exclusive. */
  start: number;
  end: number;
  tokenName: string;
}

type Parsed =
  | { ok: true; statements: RawStatement[] }
  | { ok: false; message: string; /** 0-based character offset */ cursor: number };

/** Parses a string of zero or more statements. */
export function parse(text: string): Parsed {
  if (text === "") return { ok: true, statements: [] };
  try {
    const result = parseSync(text) as { stmts?: RawStatement[] };
    return { ok: true, statements: result.stmts ?? [] };
  } catch (error) {
    if (hasSqlDetails(error)) {
      return { ok: false, message: error.message, cursor: error.sqlDetails!.cursorPosition };
    }
    return { ok: false, message: (error as Error).message, cursor: 0 };
  }
}

/** The scanner's tokens (comments included) of text that parses. */
export function scan(text: string): Token[] {
  return scanSync(text).tokens;
}
