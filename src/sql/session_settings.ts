/**
 * SET, RESET and SHOW at the SQL door: which settings a client may read and
 * change (policy.ts), to which values, and what RESET gives back; the
 * settings that would name labgate's own roles and schemas are answered by
 * the shadow catalog instead.
 */
import { CATALOG_SCHEMA, READ_ONLY_HINT } from "./names.ts";
import type { AstNode } from "./parser.ts";
import {
  FREE_SETTINGS,
  GUARDED_SETTINGS,
  type GuardedSetting,
  SEARCH_PATH_NAMES,
  TRUE_WORDS,
  VIRTUAL_SETTINGS,
  VISIBLE_SETTINGS,
} from "./policy.ts";
import type { Rewriter } from "./rewriter.ts";
import type { FolderScope, StatementInfo } from "./scope.ts";

type SqlDoor = Rewriter<FolderScope>;

export function show(rw: SqlDoor, name: string, replace: (text: string) => void): StatementInfo {
  const lower = name.toLowerCase();
  if (lower === "all") {
    replace(
      `SELECT name, setting, short_desc AS description FROM ${CATALOG_SCHEMA}.pg_settings ORDER BY name`,
    );
  } else if (VIRTUAL_SETTINGS.includes(lower)) {
    replace(`SELECT ${CATALOG_SCHEMA}.current_setting('${lower}') AS ${lower}`);
  } else if (!VISIBLE_SETTINGS.has(lower)) {
    rw.refuse("42501", `Setting ${name} cannot be read through the SQL door`, {
      hint: "SHOW ALL lists the settings you can read",
    });
  }
  return { kind: "show" };
}

export function set(rw: SqlDoor, body: AstNode, replace: (text: string) => void): StatementInfo {
  const kind = body.kind as string;
  const name = ((body.name as string | undefined) ?? "").toLowerCase();
  const local = body.is_local ? "LOCAL " : "";
  if (kind === "VAR_RESET_ALL") {
    replace(`CALL ${CATALOG_SCHEMA}.reset_all()`);
    return { kind: "reset", changesSettings: true };
  }
  if (kind === "VAR_SET_MULTI") {
    if (name !== "transaction" && name !== "session characteristics") {
      rw.refuse("42501", "Transaction snapshots cannot be imported through the SQL door");
    }
    for (const option of body.args as AstNode[]) {
      const element = option.DefElem as AstNode;
      if (element.defname === "transaction_read_only" && constant(element.arg) === 0) {
        refuseReadWrite(rw);
      }
    }
    return { kind: "set", changesSettings: true };
  }
  const result: StatementInfo = {
    kind: kind === "VAR_RESET" ? "reset" : "set",
    changesSettings: true,
  };
  const session = !body.is_local &&
    ["VAR_SET_VALUE", "VAR_SET_DEFAULT", "VAR_RESET"].includes(kind);
  if (FREE_SETTINGS.includes(name)) {
    return {
      ...result,
      oneSetting: session ? (kind === "VAR_RESET" ? "RESET" : "SET") : undefined,
    };
  }
  if ((GUARDED_SETTINGS as readonly string[]).includes(name)) {
    // Each is rewritten to a SET.
    if (session) result.oneSetting = "SET";
    const setting = name as GuardedSetting;
    if (kind === "VAR_RESET" || kind === "VAR_SET_DEFAULT") {
      replace(`SET ${local}${name} = ${guardedValue(setting, rw)}`);
    } else if (kind === "VAR_SET_VALUE") {
      checkGuarded(
        rw,
        setting,
        (body.args as unknown[]).map(constant),
        (value) => replace(`SET ${local}${name} = ${value}`),
      );
    }
    return result;
  }
  if (name === "role" || name === "session_authorization") {
    rw.refuse("42501", "The role cannot be changed through the SQL door", {
      hint: "Connect again with the account you want to use",
    });
  }
  rw.refuse("42501", `Setting ${body.name} cannot be changed through the SQL door`, {
    hint: "SHOW ALL lists the settings you can read; date, time, number and client settings " +
      "can be changed",
  });
}

/** What RESET gives a guarded setting: its labgate value. */
function guardedValue(setting: GuardedSetting, rw: SqlDoor): string {
  switch (setting) {
    case "client_encoding":
      return "'UTF8'";
    case "standard_conforming_strings":
    case "default_transaction_read_only":
    case "transaction_read_only":
      return "on";
    case "statement_timeout":
      return String(rw.scope.statementTimeoutMs);
    case "search_path":
      return `pg_catalog, ${rw.scope.schema}`;
  }
}

function checkGuarded(
  rw: SqlDoor,
  setting: GuardedSetting,
  values: (string | number | undefined)[],
  rewrite: (value: string) => void,
): void {
  const text = String(values[0] ?? "").toLowerCase();
  switch (setting) {
    case "client_encoding":
      if (!["utf8", "utf-8", "unicode", "utf_8"].includes(text)) {
        rw.refuse("0A000", `Client encoding ${values[0]} is not supported by the SQL door`, {
          hint: "Use UTF8",
        });
      }
      return;
    case "standard_conforming_strings":
      if (!TRUE_WORDS.has(text)) {
        rw.refuse("0A000", "Setting standard_conforming_strings must stay on in the SQL door", {
          hint: "Write backslashes in E'...' strings instead",
        });
      }
      return;
    case "default_transaction_read_only":
    case "transaction_read_only":
      if (!TRUE_WORDS.has(text)) refuseReadWrite(rw);
      return;
    case "statement_timeout": {
      const ms = durationMs(values[0]);
      const max = rw.scope.statementTimeoutMs;
      // 0 asks for no timeout (pg_dump does): the door's own limit is the longest there is.
      if (ms === 0) return rewrite(String(max));
      if (ms === undefined || ms < 0 || ms > max) {
        rw.refuse("42501", `The statement timeout can only be lowered, to at most ${max} ms`, {
          hint: `Give a time from 1 ms to ${max} ms, e.g. SET statement_timeout = '30s'`,
        });
      }
      return;
    }
    case "search_path": {
      if (!values.every((v) => typeof v === "string" && SEARCH_PATH_NAMES.includes(v))) {
        rw.refuse("42501", "The search path can only name lists and pg_catalog in the SQL door", {
          hint: "Write core.<view> and information_schema.<view> in full",
        });
      }
      rewrite(guardedValue(setting, rw));
      return;
    }
  }
}

export function refuseReadWrite(rw: SqlDoor): never {
  rw.refuse("25006", "Transactions through the SQL door are read-only", {
    hint: READ_ONLY_HINT,
  });
}

/** The value of an A_Const: a string or a number; 0 when PostgreSQL omits it. */
export function constant(node: unknown): string | number | undefined {
  const value = (node as AstNode | undefined)?.A_Const as AstNode | undefined;
  if (!value) return undefined;
  if (value.sval) return (value.sval as { sval?: string }).sval ?? "";
  if (value.ival) return (value.ival as { ival?: number }).ival ?? 0;
  if (value.fval) return Number((value.fval as { fval?: string }).fval);
  if (value.boolval) return (value.boolval as { boolval?: boolean }).boolval ? 1 : 0;
  return undefined;
}

const UNITS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A statement_timeout value in milliseconds: 5000, '5000', '5s', '1min'. */
function durationMs(value: string | number | undefined): number | undefined {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value ?? "");
  if (!match) return undefined;
  const unit = UNITS[match[2].toLowerCase() || "ms"];
  return unit === undefined ? undefined : Number(match[1]) * unit;
}
