/**
 * The sandbox for a door that takes one query over HTTP (LabKey executeSql):
 * exactly one SELECT (WITH, joins, subqueries and set operations allowed)
 * over the folder's lists, checked by the same rewriter as the SQL door's
 * statements, with a narrower reach (RewriteScope.listsOnly): the lists and
 * nothing else, the same function allow-list less the functions that need
 * the SQL door's session, PHI-withheld columns as at the SQL door.
 */
import { parse } from "./parser.ts";
import { Refused } from "./names.ts";
import { Rewriter } from "./rewriter.ts";
import type { ListsOnly, RewriteScope, SqlRefusal } from "./scope.ts";
import { SourceText } from "./source.ts";

/** The scope of a query over lists only. */
export interface QueryScope extends RewriteScope {
  listsOnly: ListsOnly;
}

export type QueryAnalysis =
  | {
    ok: true;
    /** The statement with the physical names, without what follows it (`;`, comments). */
    text: string;
  }
  | {
    ok: false;
    refusal: SqlRefusal;
    /** It names a column above the PHI level in force (the door answers as for any withheld column). */
    withheld?: true;
  };

/** Checks one query and rewrites it to the folder's physical names, or says why not. */
export function analyzeQuery(text: string, scope: QueryScope): QueryAnalysis {
  const door = scope.listsOnly.door;
  const parsed = parse(text);
  if (!parsed.ok) {
    return refused({
      code: "42601",
      message: `SQL syntax error: ${parsed.message}`,
      position: parsed.cursor + 1,
    });
  }
  if (parsed.statements.length !== 1) {
    return refused({ code: "42601", message: "Send exactly one SQL statement" });
  }
  const [statement] = parsed.statements;
  if (!("SelectStmt" in statement.stmt)) {
    return refused({
      code: "25006",
      message: `Only SELECT statements can be run: ${door} is read-only`,
    });
  }
  const source = new SourceText(text);
  const rewriter = new Rewriter(source, scope);
  try {
    rewriter.visit(statement.stmt);
  } catch (error) {
    if (error instanceof Refused) return refused(error.refusal);
    return refused({
      code: "XX000",
      message: `Could not analyze this statement: ${(error as Error).message}`,
      hint: "Write table and column names plainly",
    });
  }
  const named = rewriter.withheld.firstNamed();
  if (named) {
    return {
      ok: false,
      withheld: true,
      refusal: {
        code: "42501",
        message: named.message,
        ...(named.at >= 0 ? { position: source.position(named.at) } : {}),
      },
    };
  }
  const start = statement.stmt_location ?? 0;
  const end = statement.stmt_len ? start + statement.stmt_len : source.byteLength;
  const splices = rewriter.splices.map((s) => ({
    ...s,
    start: s.start - start,
    end: s.end - start,
  }));
  return { ok: true, text: new SourceText(source.slice(start, end)).apply(splices).text };
}

function refused(refusal: SqlRefusal): QueryAnalysis {
  return { ok: false, refusal };
}
