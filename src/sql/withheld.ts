/**
 * PHI on SQL: which withheld columns a statement names. A list with columns
 * above the level in force is read as a subquery of its other columns
 * (`readAs`), so no way of writing SQL reaches the withheld ones; a
 * statement that names one explicitly is refused with the column's message
 * rather than left to fail as an unknown column. Shared by the SQL door's
 * rewriter and LabKey executeSql.
 */
import type { AstNode } from "./parser.ts";

/** What it needs of a withheld list (a FolderScope's WithheldTable has more, for the catalog). */
export interface WithheldRule {
  table: string;
  /** The stored names of the columns SQL reads, in column order. */
  visible: readonly string[];
  withheld: readonly { column: string; message: string }[];
}

interface Named {
  qualifier: string | undefined;
  name: string;
  at: number;
}

export class WithheldNames {
  readonly #tables: ReadonlyMap<string, WithheldRule>;
  /** Of the current statement: the withheld lists it reads, by the name it reads each as. */
  readonly #read = new Map<string, WithheldRule>();
  /** Names of the other relations it reads (lists, catalog views): columns they qualify are theirs. */
  readonly #plain = new Set<string>();
  readonly #named: Named[] = [];

  constructor(tables: readonly WithheldRule[]) {
    this.#tables = new Map(tables.map((t) => [t.table, t]));
  }

  /** The list's rule when it has withheld columns. */
  get(table: string): WithheldRule | undefined {
    return this.#tables.get(table);
  }

  /** The statement reads `table` as `alias`: withheld when it is one of the withheld lists. */
  reads(alias: string, table: WithheldRule | undefined): void {
    if (table) this.#read.set(alias, table);
    else this.#plain.add(alias);
  }

  /** The statement names column `name`, qualified by `qualifier` (`t.name`) or not. */
  names(qualifier: string | undefined, name: string, at: number): void {
    if (this.#tables.size) this.#named.push({ qualifier, name: name.toLowerCase(), at });
  }

  /**
   * Notes the columns a parse node names: a column reference (`c`, `t.c`),
   * a field of a whole row (`(t).c`, `(t.*).c`), a join's USING list.
   */
  note(type: string, body: AstNode): void {
    if (!this.#tables.size) return;
    if (type === "ColumnRef") {
      const fields = strings(body.fields);
      const name = fields[fields.length - 1];
      if (name) this.names(fields[fields.length - 2], name, body.location as number);
    } else if (type === "A_Indirection") {
      const ref = (body.arg as AstNode).ColumnRef as AstNode | undefined;
      const qualifier = ref ? strings(ref.fields).filter((f) => f !== "").pop() : undefined;
      const at = (ref?.location as number | undefined) ?? -1;
      for (const name of strings(body.indirection)) if (name) this.names(qualifier, name, at);
    } else if (type === "JoinExpr") {
      for (const name of strings(body.usingClause)) this.names(undefined, name, -1);
    }
  }

  /**
   * The first withheld column the statement names, and where. A qualifier
   * that is a withheld list's name or alias looks in that list; one of
   * another relation's, nowhere; any other (a subquery's, a CTE's) and an
   * unqualified name, in every withheld list the statement reads.
   */
  firstNamed(): { message: string; at: number } | undefined {
    for (const { qualifier, name, at } of this.#named) {
      const table = qualifier === undefined ? undefined : this.#read.get(qualifier);
      if (!table && qualifier !== undefined && this.#plain.has(qualifier)) continue;
      for (const candidate of table ? [table] : this.#read.values()) {
        const column = candidate.withheld.find((c) => c.column === name);
        if (column) return { message: column.message, at };
      }
    }
    return undefined;
  }

  /** Forgets the statement's names: the next statement starts afresh. */
  /** The withheld lists the statement reads, each with the columns it does not see: `t (a, b)`. */
  readLists(): string[] {
    const tables = new Set(this.#read.values());
    return [...tables].map((t) => `${t.table} (${t.withheld.map((c) => c.column).join(", ")})`)
      .sort();
  }

  reset(): void {
    this.#read.clear();
    this.#plain.clear();
    this.#named.length = 0;
  }
}

/** SQL that reads `physical` (a quoted, schema-qualified table) as the rule's visible columns. */
export function readAs(physical: string, table: WithheldRule): string {
  return `(SELECT ${table.visible.map(quoteIdentifier).join(", ")} FROM ${physical})`;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The strings of a list of String nodes; "" for any other node (`*`, a subscript). */
function strings(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) =>
    ((item as AstNode).String as { sval?: string } | undefined)?.sval ?? ""
  );
}
