/**
 * The functions a statement calls: the allowed ones (policy.ts) as they
 * are, the ones that would name physical objects or server state redirected
 * to their shadows in lg_catalog, set_config() checked as SET is, and the
 * rest refused. A query over lists only (RewriteScope.listsOnly) calls the
 * allowed ones only.
 */
import type { AstNode } from "./parser.ts";
import {
  ALLOWED_FUNCTIONS,
  FREE_SETTINGS,
  GUARDED_SETTINGS,
  INFORMATION_SCHEMA_FUNCTIONS,
  SHADOWED_FUNCTIONS,
  SHADOWED_KEYWORDS,
} from "./policy.ts";
import { CATALOG_SCHEMA, stringConstant, strings, type Walker } from "./names.ts";

export function checkFunction(w: Walker, call: AstNode, ctes: ReadonlySet<string>): void {
  const names = strings(call.funcname);
  const name = names[names.length - 1];
  const at = call.location as number;
  const schema = names.length > 1 ? names[names.length - 2] : undefined;
  const shown = names.join(".");
  if (w.scope.listsOnly) {
    const plain = call.funcformat === "COERCE_SQL_SYNTAX" || names.length === 1 ||
      (names.length === 2 && schema === "pg_catalog");
    if (!plain || !ALLOWED_FUNCTIONS.has(name)) {
      w.refuse("42501", `Function ${shown}() is not allowed in ${w.scope.listsOnly.door}`, { at });
    }
  } else if (call.funcformat === "COERCE_SQL_SYNTAX") {
    // EXTRACT(...), TRIM(...), SYSTEM_USER: the grammar named the function.
    if (!ALLOWED_FUNCTIONS.has(name)) unavailable(w, name, at);
  } else if (names.length > 2) {
    w.refuse("0A000", `cross-database references are not implemented: ${shown}`, { at });
  } else if (schema === "information_schema") {
    if (!INFORMATION_SCHEMA_FUNCTIONS.has(name)) unavailable(w, shown, at);
  } else if (schema !== undefined && schema !== "pg_catalog") {
    w.refuse("42883", `function ${shown} does not exist`, { at });
  } else if (SHADOWED_FUNCTIONS.has(name)) {
    const { parts } = w.nameTokens(at, names.length);
    w.replace(parts[0].start, parts[parts.length - 1].end, shadowName(name));
    w.shadowed = true;
    if (name === "set_config") setConfig(w, call, at);
  } else if (!ALLOWED_FUNCTIONS.has(name)) {
    unavailable(w, name, at);
  }
  for (const key of ["args", "agg_order", "agg_filter", "over"]) w.visit(call[key], ctes);
}

/**
 * set_config(): the shadow checks every call as SET would; a setting
 * named by a literal that SET could not change is refused right away.
 */
function setConfig(w: Walker, call: AstNode, at: number): void {
  w.setsConfig = true;
  const setting = stringConstant((call.args as unknown[] | undefined)?.[0])?.value.toLowerCase();
  if (
    setting !== undefined && !FREE_SETTINGS.includes(setting) &&
    !(GUARDED_SETTINGS as readonly string[]).includes(setting)
  ) {
    w.refuse("42501", `Setting ${setting} cannot be changed through the SQL door`, {
      at,
      hint: "SHOW ALL lists the settings you can read; date, time, number and client " +
        "settings can be changed",
    });
  }
}

function unavailable(w: Walker, name: string, at: number): never {
  w.refuse("42501", `Function ${name}() is not available through the SQL door`, {
    at,
    hint: "Use built-in functions that compute on values; server, file and session " +
      "functions are not available",
  });
}

/** `current_user`, `current_schema`, ...: keywords that call a function. */
export function checkKeywordFunction(w: Walker, call: AstNode): void {
  const name = SHADOWED_KEYWORDS[call.op as string];
  if (!name) return;
  if (w.scope.listsOnly) {
    w.refuse("42501", `${name} is not allowed in ${w.scope.listsOnly.door}`, {
      at: call.location as number,
      hint: "It would name labgate's own roles and schemas",
    });
  }
  const [token] = w.source.tokensFrom(call.location as number);
  w.replace(token.start, token.end, `${shadowName(name)}()`);
  w.shadowed = true;
}

function shadowName(name: string): string {
  return `${CATALOG_SCHEMA}."${name}"`;
}
