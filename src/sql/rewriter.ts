/**
 * Walks one statement's parse tree and decides, for every name it meets,
 * what the user may reach: lists and core views of the connected folder,
 * and the shadow catalog. Anything else is refused. Allowed names are
 * rewritten by splicing the client's text at the parser's locations.
 */
import type { FolderScope, SqlRefusal } from "./scope.ts";
import { type AstNode, scan, type Token } from "./parser.ts";
import {
  ALLOWED_FUNCTIONS,
  CHECKED_REG_TYPES,
  FREE_SETTINGS,
  GUARDED_SETTINGS,
  INFORMATION_SCHEMA_FUNCTIONS,
  REG_TYPES,
  SHADOWED_FUNCTIONS,
  SHADOWED_KEYWORDS,
  SUPERUSER_CATALOGS,
} from "./policy.ts";
import type { SourceText, Splice } from "./source.ts";
import { quoteIdentifier, readAs, WithheldNames } from "./withheld.ts";

/** Physical schemas of the shadow catalog, and of the core views (user-facing by design). */
export const CATALOG_SCHEMA = "lg_catalog";
export const INFORMATION_SCHEMA = "lg_information_schema";
export const CORE_SCHEMA = "core";

/** A refusal on its way out of the walk. */
export class Refused extends Error {
  constructor(readonly refusal: SqlRefusal) {
    super(refusal.message);
  }
}

const NO_CTES: ReadonlySet<string> = new Set();

export class Rewriter {
  readonly source: SourceText;
  readonly scope: FolderScope;
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

  constructor(source: SourceText, scope: FolderScope) {
    this.source = source;
    this.scope = scope;
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
      this.#typeName(node, ctes);
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
        return this.#function(body, ctes);
      case "SQLValueFunction":
        return this.#keywordFunction(body);
      case "TypeCast":
        return this.#typeCast(body, ctes);
      case "TypeName":
        return this.#typeName(body, ctes);
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
          this.refuse(
            "25006",
            `Cannot run ${commandTag(type)} inside a query through the SQL door: it is read-only`,
            { hint: "Change data in the labgate web UI or through the HTTP API" },
          );
        }
    }
    for (const key in body) this.visit(body[key], ctes);
  }

  #select(body: AstNode, ctes: ReadonlySet<string>): void {
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
    const { parts } = this.#name(at, count);
    if (catalog !== undefined) this.replace(parts[0].start, parts[1].start, "");
    this.shadowed ||= physical !== this.scope.schema;
    this.core ||= physical === CORE_SCHEMA;
    const schemaToken = parts[parts.length - 2];
    if (physical !== schema) this.replace(schemaToken.start, schemaToken.end, physical);
  }

  /**
   * A list with columns above the connection's PHI level, read (not
   * locked): its name of `count` parts becomes a subquery of its visible
   * columns under the name it had, so `*`, a whole-row reference and
   * row_to_json() see those only. `TABLE t` becomes `SELECT * FROM`, and
   * `ONLY` goes (lists have no children). False for any other relation.
   */
  #readVisible(relation: AstNode, count: number): boolean {
    const name = relation.relname as string;
    const rule = this.withheld.get(name);
    if (!rule || this.#asNamed) return false;
    const alias = (relation.alias as AstNode | undefined)?.aliasname as string | undefined;
    this.withheld.reads(alias ?? name, rule);
    const { parts } = this.#name(relation.location as number, count);
    const before = this.source.tokenBefore(parts[0].start);
    const keyword = before && this.#text(before).toLowerCase();
    const start = keyword === "table" || keyword === "only" ? before!.start : parts[0].start;
    const subquery = readAs(`${this.scope.schema}.${quoteIdentifier(name)}`, rule);
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
    const { parts } = this.#name(at, count);
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
      const close = tokens.find((t) => this.#text(t) === ")");
      if (close) return close.end;
      at = tokens[tokens.length - 1].end;
    }
  }

  /** Refuses the statement when it names a withheld column (WithheldNames), and starts afresh. */
  checkWithheldNames(): void {
    const named = this.withheld.firstNamed();
    this.withheld.reset();
    if (named) this.refuse("42501", named.message, { at: named.at });
  }

  /** `"/home/a".lists.t`: the folder's own name may qualify, as in PostgreSQL. */
  #checkCatalog(catalog: string, shown: string, at: number): void {
    if (catalog !== this.scope.containerPath) {
      this.refuse("0A000", `cross-database references are not implemented: ${shown}`, { at });
    }
  }

  #function(call: AstNode, ctes: ReadonlySet<string>): void {
    const names = strings(call.funcname);
    const name = names[names.length - 1];
    const at = call.location as number;
    const schema = names.length > 1 ? names[names.length - 2] : undefined;
    const shown = names.join(".");
    if (call.funcformat === "COERCE_SQL_SYNTAX") {
      // EXTRACT(...), TRIM(...), SYSTEM_USER: the grammar named the function.
      if (!ALLOWED_FUNCTIONS.has(name)) this.#unavailable(name, at);
    } else if (names.length > 2) {
      this.refuse("0A000", `cross-database references are not implemented: ${shown}`, { at });
    } else if (schema === "information_schema") {
      if (!INFORMATION_SCHEMA_FUNCTIONS.has(name)) this.#unavailable(shown, at);
    } else if (schema !== undefined && schema !== "pg_catalog") {
      this.refuse("42883", `function ${shown} does not exist`, { at });
    } else if (SHADOWED_FUNCTIONS.has(name)) {
      const { parts } = this.#name(at, names.length);
      this.replace(parts[0].start, parts[parts.length - 1].end, shadowName(name));
      this.shadowed = true;
      if (name === "set_config") this.#setConfig(call, at);
    } else if (!ALLOWED_FUNCTIONS.has(name)) {
      this.#unavailable(name, at);
    }
    for (const key of ["args", "agg_order", "agg_filter", "over"]) this.visit(call[key], ctes);
  }

  /**
   * set_config(): the shadow checks every call as SET would; a setting
   * named by a literal that SET could not change is refused right away.
   */
  #setConfig(call: AstNode, at: number): void {
    this.setsConfig = true;
    const setting = stringConstant((call.args as unknown[] | undefined)?.[0])?.value.toLowerCase();
    if (
      setting !== undefined && !FREE_SETTINGS.includes(setting) &&
      !(GUARDED_SETTINGS as readonly string[]).includes(setting)
    ) {
      this.refuse("42501", `Setting ${setting} cannot be changed through the SQL door`, {
        at,
        hint: "SHOW ALL lists the settings you can read; date, time, number and client " +
          "settings can be changed",
      });
    }
  }

  #unavailable(name: string, at: number): never {
    this.refuse("42501", `Function ${name}() is not available through the SQL door`, {
      at,
      hint: "Use built-in functions that compute on values; server, file and session " +
        "functions are not available",
    });
  }

  /** `current_user`, `current_schema`, ...: keywords that call a function. */
  #keywordFunction(call: AstNode): void {
    const name = SHADOWED_KEYWORDS[call.op as string];
    if (!name) return;
    const [token] = this.source.tokensFrom(call.location as number);
    this.replace(token.start, token.end, `${shadowName(name)}()`);
    this.shadowed = true;
  }

  #typeCast(cast: AstNode, ctes: ReadonlySet<string>): void {
    const typeName = cast.typeName as AstNode;
    const reg = regType(typeName);
    const literal = stringConstant(cast.arg);
    if (reg && literal && this.#regLiteral(reg, literal, cast)) return;
    this.visit(cast.arg, ctes);
    const first = reg
      ? this.#text(this.source.tokensFrom(cast.location as number)[0]).toLowerCase()
      : undefined;
    this.#typeName(
      typeName,
      ctes,
      first === "::" ? "operator" : first === "cast" ? "function" : undefined,
    );
  }

  /**
   * `'lists.samples'::regclass`: names in literals are resolved like table
   * names. Returns false when the literal is an OID or not a plain name; the
   * cast then goes through the checking domain.
   */
  #regLiteral(
    reg: string,
    literal: { value: string; location: number },
    cast: AstNode,
  ): boolean {
    const at = literal.location;
    const name = plainName(literal.value, reg === "regclass" || reg === "regnamespace");
    if (!name) return false;
    if (reg === "regrole") this.#noRoles(at);
    if (name.parts.length > 2) {
      this.refuse("0A000", `cross-database references are not implemented: ${literal.value}`, {
        at,
      });
    }
    const missing = MISSING[reg] ?? MISSING.regtype;
    if (reg === "regnamespace") {
      const schema = name.parts[0].text;
      if (["pg_catalog", "information_schema", CORE_SCHEMA].includes(schema)) return true;
      const physical = userSchema(schema, this.scope);
      if (!physical) this.refuse(missing.code, missing.message(literal.value), { at });
      // The OID, not the name: regnamespace would print the physical schema.
      const typeName = cast.typeName as AstNode;
      const { parts } = this.#name(typeName.location as number, strings(typeName.names).length);
      if (!this.#castOperator(cast)) {
        this.refuse("0A000", "Write schema names as 'name'::regnamespace, not with CAST", { at });
      }
      this.#replaceLiteral(at, physical);
      this.replace(
        parts[0].start,
        parts[parts.length - 1].end,
        "pg_catalog.regnamespace::pg_catalog.oid",
      );
      return true;
    }
    if (name.parts.length === 1) return true;
    const schema = name.parts[0];
    if (schema.text === "pg_catalog" || schema.text === "information_schema") return true;
    const physical = userSchema(schema.text, this.scope);
    if (!physical || (reg !== "regclass" && reg !== "regtype")) {
      this.refuse(missing.code, missing.message(literal.value), { at });
    }
    const value = literal.value;
    this.#replaceLiteral(at, value.slice(0, schema.start) + physical + value.slice(schema.end));
    return true;
  }

  /** `x::t`, not `CAST(x AS t)`. */
  #castOperator(cast: AstNode): boolean {
    return this.#text(this.source.tokensFrom(cast.location as number)[0]) === "::";
  }

  #replaceLiteral(at: number, value: string): void {
    const [token] = this.source.tokensFrom(at);
    this.replace(token.start, token.end, `'${value.replaceAll("'", "''")}'`);
  }

  #noRoles(at: number): never {
    this.refuse("42501", "Roles are not available through the SQL door", {
      at,
      hint: "current_user names the account you connected with",
    });
  }

  /**
   * Type names: `lists.samples` is the list's row type; other schemas do not
   * exist. Types that print object names become checking domains, which
   * refuse OIDs of objects the user cannot see; a cast (`x::regclass`,
   * `CAST(x AS regclass)`) goes on to the real type, so results keep its OID
   * and pg_typeof() does not name the domain.
   */
  #typeName(typeName: AstNode, ctes: ReadonlySet<string>, cast?: "operator" | "function"): void {
    this.visit(typeName.typmods, ctes);
    const names = strings(typeName.names);
    const at = typeName.location as number;
    const shown = names.join(".");
    if (names.length > 2) {
      this.refuse("0A000", `cross-database references are not implemented: ${shown}`, { at });
    }
    const reg = regType(typeName);
    if (reg === "regrole") this.#noRoles(at);
    if (reg && CHECKED_REG_TYPES.has(reg)) {
      const { parts, rest } = this.#name(at, names.length);
      const end = arrayBoundsEnd(rest, parts[parts.length - 1].end, (t) => this.#text(t));
      const brackets = typeName.arrayBounds ? "[]" : "";
      const back = `::pg_catalog.${reg}${brackets}`;
      this.replace(
        parts[0].start,
        end,
        `${CATALOG_SCHEMA}.${reg}${brackets}${cast === "operator" ? back : ""}`,
      );
      if (cast === "function") {
        const close = rest.find((t) => t.start >= end);
        if (close && this.#text(close) === ")") this.replace(close.start, close.end, `)${back}`);
      }
      this.shadowed = true;
      return;
    }
    if (names.length < 2) return;
    const schema = names[0];
    if (schema === "pg_catalog" || schema === "information_schema") return;
    const physical = userSchema(schema, this.scope);
    if (!physical) this.refuse("42704", `type "${shown}" does not exist`, { at });
    const [schemaToken] = this.#name(at, 2).parts;
    this.replace(schemaToken.start, schemaToken.end, physical);
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
      const { parts } = this.#name(at, 2);
      this.replace(parts[0].start, parts[1].start, "");
      first = 1;
    }
    const physical = relationSchema(names[first]!, this.scope);
    if (!physical || names[first + 1] === undefined) return;
    const { parts } = this.#name(at, first + 2);
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
    const token = this.#name(at, last + 1).parts[last];
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
  #name(at: number, count: number): { parts: Token[]; rest: Token[] } {
    const tokens = this.source.tokensFrom(at);
    let i = 0;
    const parts: Token[] = [];
    while (parts.length < count) {
      if (i >= tokens.length || this.#text(tokens[i]) === ".") {
        throw new Error(`Expected a name at byte ${at}`);
      }
      parts.push(tokens[i++]);
      if (parts.length < count) {
        if (i >= tokens.length || this.#text(tokens[i]) !== ".") {
          throw new Error(`Expected a dotted name at byte ${at}`);
        }
        i++;
      }
    }
    return { parts, rest: tokens.slice(i) };
  }

  #text(token: Token): string {
    return this.source.slice(token.start, token.end);
  }
}

/** The name a relation is read as: its alias, else its own. */
function aliasOf(relation: AstNode): string {
  return ((relation.alias as AstNode | undefined)?.aliasname as string | undefined) ??
    relation.relname as string;
}

/** Byte offset after the array bounds (`[]`, `[3][]`) that start `tokens`, or `end`. */
function arrayBoundsEnd(tokens: Token[], end: number, text: (t: Token) => string): number {
  let i = 0;
  while (i < tokens.length && text(tokens[i]) === "[") {
    while (i < tokens.length && text(tokens[i]) !== "]") i++;
    if (i < tokens.length) end = tokens[i++].end;
  }
  return end;
}

/** Where a client's schema name for relations lives; undefined: it does not exist. */
function relationSchema(schema: string, scope: FolderScope): string | undefined {
  if (schema === "pg_catalog") return CATALOG_SCHEMA;
  if (schema === "information_schema") return INFORMATION_SCHEMA;
  return userSchema(schema, scope);
}

/** The schemas that hold the user's own objects. */
function userSchema(schema: string, scope: FolderScope): string | undefined {
  if (schema === "lists") return scope.schema;
  if (schema === "core") return CORE_SCHEMA;
  return undefined;
}

/** How PostgreSQL says a name in a reg literal is missing. */
const MISSING: Record<string, { code: string; message: (name: string) => string }> = {
  regclass: { code: "42P01", message: (n) => `relation "${n}" does not exist` },
  regtype: { code: "42704", message: (n) => `type "${n}" does not exist` },
  regproc: { code: "42883", message: (n) => `function "${n}" does not exist` },
  regprocedure: { code: "42883", message: (n) => `function "${n}" does not exist` },
  regnamespace: { code: "3F000", message: (n) => `schema "${n}" does not exist` },
};

function shadowName(name: string): string {
  return `${CATALOG_SCHEMA}."${name}"`;
}

function isNodeType(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 65 && first <= 90;
}

/** The strings of a list of String nodes, e.g. a function's qualified name. */
function strings(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) =>
    ((item as AstNode).String as { sval?: string } | undefined)?.sval ?? ""
  );
}

/** The reg type a type name names (plain or pg_catalog-qualified), if any. */
function regType(typeName: AstNode): string | undefined {
  const names = strings(typeName.names);
  const base = names[names.length - 1];
  const qualified = names.length === 2 && names[0] === "pg_catalog";
  return (names.length === 1 || qualified) && REG_TYPES.has(base) ? base : undefined;
}

function stringConstant(node: unknown): { value: string; location: number } | undefined {
  const constant = (node as AstNode | undefined)?.A_Const as AstNode | undefined;
  const value = (constant?.sval as { sval?: string } | undefined)?.sval;
  if (constant === undefined || constant.sval === undefined) return undefined;
  return { value: value ?? "", location: constant.location as number };
}

interface NamePart {
  /** The identifier as PostgreSQL folds it. */
  text: string;
  /** Where it is in the literal (UTF-16 indexes). */
  start: number;
  end: number;
}

/**
 * The dotted identifier at the start of a reg literal's text, read with the
 * SQL scanner. `whole`: nothing may follow it (regclass, regnamespace).
 * Undefined for OIDs and anything that is not a plain name.
 */
function plainName(value: string, whole: boolean): { parts: NamePart[] } | undefined {
  if (value === "" || value === "-" || /^[0-9]+$/.test(value)) return undefined;
  let tokens: Token[];
  try {
    tokens = scan(value);
  } catch {
    return undefined;
  }
  const bytes = new TextEncoder().encode(value);
  const decoder = new TextDecoder();
  const textOf = (t: Token) => decoder.decode(bytes.subarray(t.start, t.end));
  const indexOf = (byte: number) => decoder.decode(bytes.subarray(0, byte)).length;
  const parts: NamePart[] = [];
  let i = 0;
  while (i < tokens.length) {
    const token = tokens[i];
    const text = textOf(token);
    if (token.tokenName !== "IDENT" && !/^[A-Za-z_]/.test(text)) return undefined;
    const folded = text.startsWith('"') ? text.slice(1, -1).replaceAll('""', '"') : text;
    parts.push({
      text: text.startsWith('"') ? folded : folded.toLowerCase(),
      start: indexOf(token.start),
      end: indexOf(token.end),
    });
    i++;
    if (i < tokens.length && textOf(tokens[i]) === ".") i++;
    else break;
  }
  if (parts.length === 0 || (whole && i < tokens.length)) return undefined;
  // A dot after the name means the scanner and the engine may disagree.
  if (tokens.slice(i).some((t) => textOf(t) === ".")) return undefined;
  return { parts };
}

/** `InsertStmt` → `INSERT`, `CreateTableAsStmt` → `CREATE TABLE AS`. */
export function commandTag(type: string): string {
  return type.replace(/Stmt$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
}
