/**
 * EXPLAIN at the SQL door: the options that show no physical names, and a
 * query that reads the shadow catalog explained inside lg_catalog.explain().
 */
import { CATALOG_SCHEMA } from "./names.ts";
import type { AstNode } from "./parser.ts";
import type { Rewriter } from "./rewriter.ts";
import type { FolderScope } from "./scope.ts";
import { constant } from "./session_settings.ts";
import { SourceText } from "./source.ts";

type SqlDoor = Rewriter<FolderScope>;

/** An EXPLAIN option as given: its name, and whether it is turned off. */
interface ExplainOption {
  name: string;
  off: boolean;
}

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

/** EXPLAIN's options, or the refusal of one that would show labgate's physical names. */
export function explainOptions(rw: SqlDoor, body: AstNode): ExplainOption[] {
  return ((body.options as AstNode[] | undefined) ?? []).map((option) => {
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
export function explainCatalogQuery(
  rw: SqlDoor,
  body: AstNode,
  options: ExplainOption[],
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
