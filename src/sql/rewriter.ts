/**
 * Walks one statement's parse tree and decides, for every name it meets,
 * what the user may reach: lists and core views of the connected folder,
 * and the shadow catalog (a query over lists only: the folder's lists).
 * Anything else is refused. Allowed names are rewritten by splicing the
 * client's text at the parser's locations. Types and casts are checked in
 * types.ts, function calls in functions.ts.
 */
import type { ListsOnly, RewriteScope } from "./scope.ts";
import type { AstNode, Token } from "./parser.ts";
import {
  CATALOG_SCHEMA,
  commandTag,
  CORE_SCHEMA,
  Refused,
  relationSchema,
  strings,
  type Walker,
} from "./names.ts";
import { checkFunction, checkKeywordFunction } from "./functions.ts";
import { SUPERUSER_CATALOGS } from "./policy.ts";
import type { SourceText, Splice } from "./source.ts";
import { rewriteTypeCast, rewriteTypeName } from "./types.ts";
import { quoteIdentifier, readAs, WithheldNames } from "./withheld.ts";

const NO_CTES: ReadonlySet<string> = new Set();

export class Rewriter<Scope extends RewriteScope = RewriteScope> implements Walker {
  readonly source: SourceText;
  readonly scope: Scope;
  readonly splices: Splice[] = [];
  /** The current statement reads the shadow catalog or a core view. */
  shadowed = false;
  /** The current statement reads a core view. */
  core = false;
  /** The current statement calls set_config(): session settings may change. */
  setsConfig = false;

  /** The list columns defined with capitals (see FolderScope.shownColumns). */
  readonly #shown: ReadonlySet<string>;
  /** Lists with columns above the connection's PHI level, and the columns a statement names. */
  readonly withheld: WithheldNames;
  /** Relations are named, not read (LOCK): a withheld list stays a table. */
  #asNamed = false;
  /** A query over the folder's lists only (RewriteScope.listsOnly). */
  readonly #only: ListsOnly | undefined;

  constructor(source: SourceText, scope: Scope) {
    this.source = source;
    this.scope = scope;
    this.#only = scope.listsOnly;
    this.#shown = new Set(scope.shownColumns.map((c) => c.name));
    this.withheld = new WithheldNames(scope.withheldTables);
  }

  refuse(
    code: string,
    message: string,
    options: { hint?: string; detail?: string; at?: number } = {},
  ): never {
    const { at, ...rest } = options;
    const position = at !== undefined && at >= 0 ? this.source.position(at) : undefined;
    throw new Refused({ code, message, ...rest, ...(position ? { position } : {}) });
  }

  replace(start: number, end: number, text: string): void {
    this.splices.push({ start, end, text });
  }

  /** Walks any part of a parse tree. */
  visit(value: unknown, ctes: ReadonlySet<string> = NO_CTES): void {
    if (Array.isArray(value)) {
      for (const item of value) this.visit(item, ctes);
      return;
    }
    if (typeof value !== "object" || value === null) return;
    const node = value as AstNode;
    const keys = Object.keys(node);
    if (keys.length === 1 && isNodeType(keys[0])) {
      this.#node(keys[0], node[keys[0]] as AstNode, ctes);
    } else if ("relname" in node) {
      this.#relation(node, ctes);
    } else if ("typemod" in node) {
      rewriteTypeName(this, node, ctes);
    } else {
      for (const key of keys) this.visit(node[key], ctes);
    }
  }

  #node(type: string, body: AstNode, ctes: ReadonlySet<string>): void {
    switch (type) {
      case "SelectStmt":
        return this.#select(body, ctes);
      case "RangeVar":
        return this.#relation(body, ctes);
      case "FuncCall":
        return checkFunction(this, body, ctes);
      case "SQLValueFunction":
        return checkKeywordFunction(this, body);
      case "TypeCast":
        return rewriteTypeCast(this, body, ctes);
      case "TypeName":
        return rewriteTypeName(this, body, ctes);
      case "ColumnRef":
        this.withheld.note(type, body);
        return this.#columnRef(body);
      case "A_Indirection":
      case "JoinExpr":
        this.withheld.note(type, body);
        break;
      case "A_Expr":
        this.#operator(body.name, body.location);
        break;
      case "SortBy":
        this.#operator(body.useOp, body.location);
        break;
      case "SubLink":
        this.#operator(body.operName, body.location);
        break;
      case "CollateClause":
        this.#collation(body);
        break;
      default:
        if (type.endsWith("Stmt")) {
          if (this.#only) this.#changesData(type);
          this.refuse(
            "25006",
            `Cannot run ${commandTag(type)} inside a query through the SQL door: it is read-only`,
            { hint: "Change data in the labgate web UI or through the HTTP API" },
          );
        }
    }
    for (const key in body) this.visit(body[key], ctes);
  }

  /** A write inside a query over lists only. */
  #changesData(type: string, at?: number): never {
    this.refuse("25006", `${commandTag(type)} changes data: ${this.#only!.door} is read-only`, {
      at,
    });
  }

  #select(body: AstNode, ctes: ReadonlySet<string>): void {
    if (this.#only && body.intoClause) {
      this.refuse("25006", `SELECT INTO writes a table: ${this.#only.door} is read-only`);
    }
    if (this.#only && body.lockingClause) {
      this.refuse("25006", `FOR UPDATE/SHARE locks rows: ${this.#only.door} is read-only`);
    }
    if (body.intoClause) {
      this.refuse("25006", "Cannot run SELECT INTO through the SQL door: it is read-only", {
        hint: "Change data in the labgate web UI or through the HTTP API",
      });
    }
    if (body.lockingClause) {
      this.refuse(
        "25006",
        "Cannot lock rows (FOR UPDATE or FOR SHARE) through the SQL door: it is read-only",
        { hint: "Remove the FOR UPDATE or FOR SHARE clause" },
      );
    }
    const inner = body.withClause ? this.#with(body.withClause as AstNode, ctes) : ctes;
    for (const key in body) if (key !== "withClause") this.visit(body[key], inner);
  }

  /** Visits the CTEs, each seeing the names PostgreSQL would let it see. */
  #with(clause: AstNode, outer: ReadonlySet<string>): ReadonlySet<string> {
    const ctes = (clause.ctes as AstNode[]).map((c) => c.CommonTableExpr as AstNode);
    const names = ctes.map((c) => c.ctename as string);
    const all = new Set([...outer, ...names]);
    ctes.forEach((cte, i) => {
      const query = cte.ctequery as AstNode;
      if (!("SelectStmt" in query)) {
        if (this.#only) this.#changesData(Object.keys(query)[0], cte.location as number);
        this.refuse(
          "25006",
          `Cannot run ${
            commandTag(Object.keys(query)[0])
          } in a WITH query through the SQL door: it is read-only`,
          { at: cte.location as number },
        );
      }
      this.visit(query, clause.recursive ? all : new Set([...outer, ...names.slice(0, i)]));
    });
    return all;
  }

  #relation(relation: AstNode, ctes: ReadonlySet<string>): void {
    const at = relation.location as number;
    const name = relation.relname as string;
    const schema = relation.schemaname as string | undefined;
    const catalog = relation.catalogname as string | undefined;
    const shown = [catalog, schema, name].filter((n) => n !== undefined).join(".");
    if (schema === undefined && ctes.has(name)) return;
    if (this.#only) return this.#list(relation, this.#only);
    if ((schema ?? "pg_catalog") === "pg_catalog" && SUPERUSER_CATALOGS.has(name)) {
      this.refuse("42501", `permission denied for table ${name}`, { at });
    }
    if (schema === undefined) {
      const physical = name.startsWith("pg_") ? CATALOG_SCHEMA : this.scope.schema;
      if (physical === this.scope.schema && this.#readVisible(relation, 1)) return;
      this.withheld.reads(aliasOf(relation), undefined);
      this.shadowed ||= physical === CATALOG_SCHEMA;
      this.replace(at, at, `${physical}.`);
      return;
    }
    const physical = relationSchema(schema, this.scope);
    if (!physical) {
      this.refuse("42P01", `relation "${shown}" does not exist`, { at });
    }
    if (catalog !== undefined) this.#checkCatalog(catalog, shown, at);
    const count = catalog === undefined ? 2 : 3;
    if (physical === this.scope.schema && this.#readVisible(relation, count)) return;
    this.withheld.reads(aliasOf(relation), undefined);
    const { parts } = this.nameTokens(at, count);
    if (catalog !== undefined) this.replace(parts[0].start, parts[1].start, "");
    this.shadowed ||= physical !== this.scope.schema;
    this.core ||= physical === CORE_SCHEMA;
    const schemaToken = parts[parts.length - 2];
    if (physical !== schema) this.replace(schemaToken.start, schemaToken.end, physical);
  }

  /**
   * A relation of a query over lists only: one of the folder's lists, named
   * `name` or `lists.name` in any case, read under its physical name.
   */
  #list(relation: AstNode, only: ListsOnly): void {
    const at = relation.location as number;
    const name = relation.relname as string;
    const schema = relation.schemaname as string | undefined;
    const catalog = relation.catalogname as string | undefined;
    if (catalog !== undefined || (schema !== undefined && schema.toLowerCase() !== "lists")) {
      const shown = [catalog, schema, name].filter((n) => n !== undefined).join(".");
      this.refuse(
        "42501",
        `Only this folder's lists can be queried: ${shown} is not in schema lists`,
        {
          at,
        },
      );
    }
    const stored = name.toLowerCase();
    if (!only.lists.has(stored)) {
      this.refuse(
        "42P01",
        `No list named ${name} in this folder (lists: ${[...only.lists].join(", ")})`,
        { at },
      );
    }
    const count = schema === undefined ? 1 : 2;
    if (this.#readVisible(relation, count, stored)) return;
    this.withheld.reads(aliasOf(relation), undefined);
    const { parts } = this.nameTokens(at, count);
    this.replace(
      parts[0].start,
      parts[count - 1].end,
      `${this.scope.schema}.${quoteIdentifier(stored)}`,
    );
  }

  /**
   * A list with columns above the connection's PHI level, read (not
   * locked): its name of `count` parts becomes a subquery of its visible
   * columns under the name it had, so `*`, a whole-row reference and
   * row_to_json() see those only. `TABLE t` becomes `SELECT * FROM`, and
   * `ONLY` goes (lists have no children). False for any other relation.
   */
  #readVisible(relation: AstNode, count: number, stored?: string): boolean {
    const name = relation.relname as string;
    const table = stored ?? name;
    const rule = this.withheld.get(table);
    if (!rule || this.#asNamed) return false;
    const alias = (relation.alias as AstNode | undefined)?.aliasname as string | undefined;
    this.withheld.reads(alias ?? name, rule);
    const { parts } = this.nameTokens(relation.location as number, count);
    const before = this.source.tokenBefore(parts[0].start);
    const keyword = before && this.tokenText(before).toLowerCase();
    const start = keyword === "table" || keyword === "only" ? before!.start : parts[0].start;
    const subquery = readAs(`${this.scope.schema}.${quoteIdentifier(table)}`, rule);
    this.replace(
      start,
      parts[parts.length - 1].end,
      (keyword === "table" ? "SELECT * FROM " : "") + subquery +
        (alias === undefined ? ` ${quoteIdentifier(name)}` : ""),
    );
    return true;
  }

  /** LOCK's relations: named, so a withheld list stays the table. */
  lockRelations(relations: unknown): void {
    this.#asNamed = true;
    try {
      this.visit(relations);
    } finally {
      this.#asNamed = false;
    }
  }

  /**
   * `COPY t [(columns)] TO STDOUT`: a withheld list is copied as a query of
   * its visible columns (or of the columns named, checked as any statement's).
   */
  copyRelation(copy: AstNode): void {
    const relation = copy.relation as AstNode;
    const name = relation.relname as string;
    const schema = relation.schemaname as string | undefined;
    const rule = (schema ?? "lists") === "lists" ? this.withheld.get(name) : undefined;
    if (!rule) return this.visit(relation);
    const at = relation.location as number;
    const catalog = relation.catalogname as string | undefined;
    if (catalog !== undefined) this.#checkCatalog(catalog, `${catalog}.${schema}.${name}`, at);
    this.withheld.reads(name, rule);
    const columns = strings(copy.attlist).map((c) => this.#shown.has(c) ? c.toLowerCase() : c);
    for (const column of columns) this.withheld.names(name, column, at);
    const count = catalog !== undefined ? 3 : schema !== undefined ? 2 : 1;
    const { parts } = this.nameTokens(at, count);
    const end = columns.length
      ? this.#closingParenthesis(parts[parts.length - 1].end)
      : parts[parts.length - 1].end;
    this.replace(
      parts[0].start,
      end,
      readAs(`${this.scope.schema}.${quoteIdentifier(name)}`, {
        ...rule,
        visible: columns.length ? columns : rule.visible,
      }),
    );
  }

  /** The end of the first `)` at or after byte `from`. */
  #closingParenthesis(from: number): number {
    for (let at = from;;) {
      const tokens = this.source.tokensAfter(at);
      if (!tokens.length) throw new Error(`Expected ) after byte ${from}`);
      const close = tokens.find((t) => this.tokenText(t) === ")");
      if (close) return close.end;
      at = tokens[tokens.length - 1].end;
    }
  }

  /** Refuses the statement when it names a withheld column (WithheldNames), and starts afresh. */
  /**
   * Ends the statement: refuses it when it names a withheld column
   * (WithheldNames); else returns the withheld lists it reads (readLists()).
   */
  endStatement(): string[] {
    const named = this.withheld.firstNamed();
    const lists = this.withheld.readLists();
    this.withheld.reset();
    if (named) this.refuse("42501", named.message, { at: named.at });
    return lists;
  }

  /** `"/home/a".lists.t`: the folder's own name may qualify, as in PostgreSQL. */
  #checkCatalog(catalog: string, shown: string, at: number): void {
    if (catalog !== this.scope.containerPath) {
      this.refuse("0A000", `cross-database references are not implemented: ${shown}`, { at });
    }
  }

  /** `lists.samples.label`: the schema of a qualified column follows its table's. */
  #columnRef(ref: AstNode): void {
    const names = (ref.fields as AstNode[]).map((f) =>
      (f.String as { sval?: string } | undefined)?.sval
    );
    this.#definedNames(names, ref.location as number);
    if (names.length < 3 || names[0] === undefined || names[1] === undefined) return;
    const at = ref.location as number;
    let first = 0;
    if (names.length >= 4 && names[2] !== undefined) {
      if (names[0] !== this.scope.containerPath) return;
      const { parts } = this.nameTokens(at, 2);
      this.replace(parts[0].start, parts[1].start, "");
      first = 1;
    }
    const physical = relationSchema(names[first]!, this.scope);
    if (!physical || names[first + 1] === undefined) return;
    const { parts } = this.nameTokens(at, first + 2);
    if (physical === this.scope.schema && this.withheld.get(names[first + 1]!)) {
      // The list is read as a subquery under its own name: `lists.t.c` is `t.c`.
      return this.replace(parts[first].start, parts[first + 1].start, "");
    }
    this.replace(parts[first].start, parts[first].end, physical);
  }

  /**
   * A quoted column name as the list defines it (`"SampleId"`) is the stored,
   * lower-case column: unquoted names fold to it already. Only the last
   * part of a reference is a column (`t."SampleId"`).
   */
  #definedNames(names: (string | undefined)[], at: number): void {
    const last = names.length - 1;
    const name = names[last];
    if (name === undefined || name === name.toLowerCase() || !this.#shown.has(name)) return;
    const token = this.nameTokens(at, last + 1).parts[last];
    this.replace(token.start, token.end, name.toLowerCase());
  }

  /** `OPERATOR(pg_catalog.~)`: operators live in pg_catalog only. */
  #operator(name: unknown, location: unknown): void {
    const names = strings(name);
    if (names.length > 1 && names[0] !== "pg_catalog") {
      this.refuse("42883", `operator does not exist: ${names.join(".")}`, {
        at: location as number,
      });
    }
  }

  #collation(clause: AstNode): void {
    const names = strings(clause.collname);
    if (names.length > 1 && names[0] !== "pg_catalog") {
      this.refuse("42704", `collation "${names.join(".")}" does not exist`, {
        at: clause.location as number,
      });
    }
  }

  /** The tokens of a dotted name of `count` parts at byte `at`, and the tokens after it. */
  nameTokens(at: number, count: number): { parts: Token[]; rest: Token[] } {
    const tokens = this.source.tokensFrom(at);
    let i = 0;
    const parts: Token[] = [];
    while (parts.length < count) {
      if (i >= tokens.length || this.tokenText(tokens[i]) === ".") {
        throw new Error(`Expected a name at byte ${at}`);
      }
      parts.push(tokens[i++]);
      if (parts.length < count) {
        if (i >= tokens.length || this.tokenText(tokens[i]) !== ".") {
          throw new Error(`Expected a dotted name at byte ${at}`);
        }
        i++;
      }
    }
    return { parts, rest: tokens.slice(i) };
  }

  tokenText(token: Token): string {
    return this.source.slice(token.start, token.end);
  }
}

/** The name a relation is read as: its alias, else its own. */
function aliasOf(relation: AstNode): string {
  return ((relation.alias as AstNode | undefined)?.aliasname as string | undefined) ??
    relation.relname as string;
}

function isNodeType(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 65 && first <= 90;
}
