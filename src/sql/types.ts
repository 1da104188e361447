/**
 * Type names and casts in a statement: `lists.samples` is the list's row
 * type and other schemas' types do not exist; casts to the types that print
 * object names (regclass, ...) go through the shadow catalog's checking
 * domains, and names in their literals are resolved like table names. A
 * query over lists only (RewriteScope.listsOnly) may not use those types.
 */
import { type AstNode, scan, type Token } from "./parser.ts";
import { CHECKED_REG_TYPES, REG_TYPES } from "./policy.ts";
import {
  CATALOG_SCHEMA,
  CORE_SCHEMA,
  stringConstant,
  strings,
  userSchema,
  type Walker,
} from "./names.ts";

export function rewriteTypeCast(w: Walker, cast: AstNode, ctes: ReadonlySet<string>): void {
  const typeName = cast.typeName as AstNode;
  const reg = regType(typeName);
  if (reg) noRegTypes(w, reg, typeName);
  const literal = stringConstant(cast.arg);
  if (reg && literal && regLiteral(w, reg, literal, cast)) return;
  w.visit(cast.arg, ctes);
  const first = reg
    ? w.tokenText(w.source.tokensFrom(cast.location as number)[0]).toLowerCase()
    : undefined;
  rewriteTypeName(
    w,
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
function regLiteral(
  w: Walker,
  reg: string,
  literal: { value: string; location: number },
  cast: AstNode,
): boolean {
  const at = literal.location;
  const name = plainName(literal.value, reg === "regclass" || reg === "regnamespace");
  if (!name) return false;
  if (reg === "regrole") noRoles(w, at);
  if (name.parts.length > 2) {
    w.refuse("0A000", `cross-database references are not implemented: ${literal.value}`, {
      at,
    });
  }
  const missing = MISSING[reg] ?? MISSING.regtype;
  if (reg === "regnamespace") {
    const schema = name.parts[0].text;
    if (["pg_catalog", "information_schema", CORE_SCHEMA].includes(schema)) return true;
    const physical = userSchema(schema, w.scope);
    if (!physical) w.refuse(missing.code, missing.message(literal.value), { at });
    // The OID, not the name: regnamespace would print the physical schema.
    const typeName = cast.typeName as AstNode;
    const { parts } = w.nameTokens(typeName.location as number, strings(typeName.names).length);
    if (!castOperator(w, cast)) {
      w.refuse("0A000", "Write schema names as 'name'::regnamespace, not with CAST", { at });
    }
    replaceLiteral(w, at, physical);
    w.replace(
      parts[0].start,
      parts[parts.length - 1].end,
      "pg_catalog.regnamespace::pg_catalog.oid",
    );
    return true;
  }
  if (name.parts.length === 1) return true;
  const schema = name.parts[0];
  if (schema.text === "pg_catalog" || schema.text === "information_schema") return true;
  const physical = userSchema(schema.text, w.scope);
  if (!physical || (reg !== "regclass" && reg !== "regtype")) {
    w.refuse(missing.code, missing.message(literal.value), { at });
  }
  const value = literal.value;
  replaceLiteral(w, at, value.slice(0, schema.start) + physical + value.slice(schema.end));
  return true;
}

/** Object-name types in a query over lists only: they would name other folders' objects. */
function noRegTypes(w: Walker, reg: string, typeName: AstNode): void {
  if (!w.scope.listsOnly) return;
  w.refuse("42501", `Type ${reg} is not allowed in ${w.scope.listsOnly.door}`, {
    at: typeName.location as number,
    hint: "It names database objects, not the folder's data",
  });
}

/** `x::t`, not `CAST(x AS t)`. */
function castOperator(w: Walker, cast: AstNode): boolean {
  return w.tokenText(w.source.tokensFrom(cast.location as number)[0]) === "::";
}

function replaceLiteral(w: Walker, at: number, value: string): void {
  const [token] = w.source.tokensFrom(at);
  w.replace(token.start, token.end, `'${value.replaceAll("'", "''")}'`);
}

function noRoles(w: Walker, at: number): never {
  w.refuse("42501", "Roles are not available through the SQL door", {
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
export function rewriteTypeName(
  w: Walker,
  typeName: AstNode,
  ctes: ReadonlySet<string>,
  cast?: "operator" | "function",
): void {
  w.visit(typeName.typmods, ctes);
  const names = strings(typeName.names);
  const at = typeName.location as number;
  const shown = names.join(".");
  if (names.length > 2) {
    w.refuse("0A000", `cross-database references are not implemented: ${shown}`, { at });
  }
  const reg = regType(typeName);
  if (reg) noRegTypes(w, reg, typeName);
  if (reg === "regrole") noRoles(w, at);
  if (reg && CHECKED_REG_TYPES.has(reg)) {
    const { parts, rest } = w.nameTokens(at, names.length);
    const end = arrayBoundsEnd(rest, parts[parts.length - 1].end, (t) => w.tokenText(t));
    const brackets = typeName.arrayBounds ? "[]" : "";
    const back = `::pg_catalog.${reg}${brackets}`;
    w.replace(
      parts[0].start,
      end,
      `${CATALOG_SCHEMA}.${reg}${brackets}${cast === "operator" ? back : ""}`,
    );
    if (cast === "function") {
      const close = rest.find((t) => t.start >= end);
      if (close && w.tokenText(close) === ")") w.replace(close.start, close.end, `)${back}`);
    }
    w.shadowed = true;
    return;
  }
  if (names.length < 2) return;
  const schema = names[0];
  if (schema === "pg_catalog" || schema === "information_schema") return;
  const physical = userSchema(schema, w.scope);
  if (!physical) w.refuse("42704", `type "${shown}" does not exist`, { at });
  const [schemaToken] = w.nameTokens(at, 2).parts;
  w.replace(schemaToken.start, schemaToken.end, physical);
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

/** How PostgreSQL says a name in a reg literal is missing. */
const MISSING: Record<string, { code: string; message: (name: string) => string }> = {
  regclass: { code: "42P01", message: (n) => `relation "${n}" does not exist` },
  regtype: { code: "42704", message: (n) => `type "${n}" does not exist` },
  regproc: { code: "42883", message: (n) => `function "${n}" does not exist` },
  regprocedure: { code: "42883", message: (n) => `function "${n}" does not exist` },
  regnamespace: { code: "3F000", message: (n) => `schema "${n}" does not exist` },
};

/** The reg type a type name names (plain or pg_catalog-qualified), if any. */
function regType(typeName: AstNode): string | undefined {
  const names = strings(typeName.names);
  const base = names[names.length - 1];
  const qualified = names.length === 2 && names[0] === "pg_catalog";
  return (names.length === 1 || qualified) && REG_TYPES.has(base) ? base : undefined;
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
