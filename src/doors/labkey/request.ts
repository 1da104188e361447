/**
 * How LabKey clients address and parameterize requests: the two URL styles,
 * parameters merged from the query string, a form or a JSON body, and the
 * `query.*` parameters of selectRows (columns, filters, sort, paging).
 */
import { badRequest } from "../../errors.ts";
import {
  type Filter,
  FILTER_OPS,
  type FilterOp,
  MAX_ROWS_PER_REQUEST,
  type RowQuery,
} from "../../data/rows.ts";

/** Controllers answered in the older `/<controller>/<container>/<action>` style. */
const CONTROLLERS = ["query", "project", "core", "property", "user", "security"] as const;

export interface LabKeyRoute {
  readonly containerPath: string;
  /** `<controller>-<action>`, e.g. `query-selectRows`. */
  readonly action: string;
}

/** First path segments that belong to other doors and pages, never to a folder here. */
const OTHER_DOORS = new Set(["api", "login", "admin", "folders", "static", "account", "logout"]);

const DASH_ACTION = /^([A-Za-z]+)-([A-Za-z]+)\.(api|view)$/;
const PLAIN_ACTION = /^([A-Za-z]+)\.(api|view)$/;

/**
 * Reads `/home/assays/query-selectRows.api` or `/query/home/assays/selectRows.api`;
 * null for any other path. The older style is not read for `login`, whose
 * `/login/...` pages belong to the remote-login door.
 */
export function parseLabKeyPath(path: string): LabKeyRoute | null {
  // Every request asks (the middleware, then the route): scripts repeat the same few paths.
  let route = parsedPaths.get(path);
  if (route === undefined) {
    if (parsedPaths.size >= PARSED_PATHS) parsedPaths.clear();
    parsedPaths.set(path, route = parsePath(path));
  }
  return route;
}

/** Paths remembered by parseLabKeyPath(); beyond this it starts over. */
const PARSED_PATHS = 1000;
const parsedPaths = new Map<string, LabKeyRoute | null>();

function parsePath(path: string): LabKeyRoute | null {
  let parts: string[];
  try {
    parts = path.split("/").filter((p) => p !== "").map(decodeURIComponent);
  } catch {
    return null;
  }
  const last = parts.at(-1);
  if (!last || (parts.length > 1 && OTHER_DOORS.has(parts[0]))) return null;
  const dash = DASH_ACTION.exec(last);
  if (dash) {
    return {
      containerPath: "/" + parts.slice(0, -1).join("/"),
      action: `${dash[1].toLowerCase()}-${dash[2]}`,
    };
  }
  const plain = PLAIN_ACTION.exec(last);
  const controller = parts[0]?.toLowerCase();
  if (plain && parts.length >= 2 && (CONTROLLERS as readonly string[]).includes(controller)) {
    return {
      containerPath: "/" + parts.slice(1, -1).join("/"),
      action: `${controller}-${plain[1]}`,
    };
  }
  return null;
}

/** The marker Rlabkey puts before values it hides from web application firewalls. */
const WAF_PREFIX = "/*{{base64/x-www-form-urlencoded/wafText}}*/";

/** Undoes Rlabkey's firewall encoding: base64 of the URI-encoded value after `WAF_PREFIX`. */
export function wafDecode(value: unknown): unknown {
  if (typeof value !== "string" || !value.startsWith(WAF_PREFIX)) return value;
  try {
    const bytes = Uint8Array.from(atob(value.slice(WAF_PREFIX.length)), (c) => c.charCodeAt(0));
    return decodeURIComponent(new TextDecoder().decode(bytes).replaceAll("+", "%20"));
  } catch {
    throw badRequest("A parameter is marked as firewall-encoded but is not valid base64");
  }
}

/** Request parameters: query string, then form or JSON body fields (later ones win). */
export class LabKeyParams {
  readonly #values = new Map<string, unknown[]>();

  constructor(sources: Iterable<[string, unknown]>) {
    for (const [name, value] of sources) {
      const values = (Array.isArray(value) ? value : [value]).map(wafDecode);
      this.#values.set(name, [...(this.#values.get(name) ?? []), ...values]);
    }
  }

  /** The last value given for `name`. */
  get(name: string): unknown {
    return this.#values.get(name)?.at(-1);
  }

  getAll(name: string): unknown[] {
    return this.#values.get(name) ?? [];
  }

  string(name: string): string | undefined {
    const value = this.get(name);
    return value === undefined || value === null ? undefined : String(value);
  }

  /** The first of several names that has a value (LabKey accepts aliases). */
  first(...names: string[]): string | undefined {
    for (const name of names) {
      const value = this.string(name);
      if (value !== undefined && value !== "") return value;
    }
    return undefined;
  }

  number(...names: string[]): number | undefined {
    const text = this.first(...names);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n)) throw badRequest(`${names[0]} must be a number, got "${text}"`);
    return n;
  }

  names(): string[] {
    return [...this.#values.keys()];
  }
}

/** The apiVersion a client asked for; 8.3 (plain values) when absent. */
export function apiVersion(params: LabKeyParams): number {
  return params.number("apiVersion") ?? 8.3;
}

/** The comma-separated (or repeated) names in `name`. */
function commaList(params: LabKeyParams, name: string): string[] {
  return params.getAll(name).flatMap((v) => String(v).split(",")).map((s) => s.trim())
    .filter((s) => s !== "");
}

const MULTI_VALUE_OPS = new Set(["in", "notin", "containsoneof", "containsnoneof"]);

/** LabKey's row query parameters (all rows unless a limit is given): `query.columns`, `query.<col>~<op>`, `query.sort`, paging. */
export function rowQueryFromParams(params: LabKeyParams, prefix = "query."): RowQuery {
  const filters: Filter[] = [];
  for (const name of params.names()) {
    if (!name.startsWith(prefix) || !name.includes("~")) continue;
    const [column, op] = name.slice(prefix.length).split("~");
    const lower = op.toLowerCase();
    if (!(FILTER_OPS as readonly string[]).includes(lower)) {
      throw badRequest(`Unknown filter "${op}" on ${column}: use one of ${FILTER_OPS.join(", ")}`);
    }
    const values = params.getAll(name);
    if (MULTI_VALUE_OPS.has(lower) && values.length > 1) {
      // Repeated parameters (`query.Name~in=a&query.Name~in=b`) are one filter with all values.
      filters.push({
        column,
        op: lower as FilterOp,
        value: values.flatMap((v) => String(v ?? "").split(";")),
      });
      continue;
    }
    for (const value of values) filters.push({ column, op: lower as FilterOp, value: value ?? "" });
  }
  const sort = commaList(params, `${prefix}sort`).map((s) =>
    s.startsWith("-") ? { column: s.slice(1), descending: true } : { column: s }
  );
  const columns = commaList(params, `${prefix}columns`);
  const showAll = params.string(`${prefix}showRows`)?.toLowerCase() === "all";
  const limit = showAll ? undefined : params.number(`${prefix}maxRows`, "maxRows", "limit");
  return {
    columns: columns.length ? columns : undefined,
    filters,
    sort,
    limit: limit === undefined || limit < 0 ? MAX_ROWS_PER_REQUEST : limit,
    offset: params.number(`${prefix}offset`, "offset"),
    // LabKey's clients may skip the total; rowCount then counts the rows returned.
    count: params.string("includeTotalCount")?.toLowerCase() !== "false",
  };
}
