/**
 * LabKey's `containerFilter` on selectRows: the list of this name in the
 * current folder only (`Current`, the default), also in its subfolders
 * (`CurrentAndSubfolders`), or in every folder (`AllFolders`) — each time
 * only folders the caller may read, each list with its own permission check.
 * Rows of several lists are merged in the query's order and paged together.
 */
import type { Actor } from "../../core/actor.ts";
import type { JsonValue } from "../../data/column_types.ts";
import { visibleContainers } from "../../data/containers.ts";
import { getList, type ListDefinition } from "../../data/lists.ts";
import { type Row, type RowQuery, selectRows } from "../../data/rows.ts";
import { badRequest } from "../../errors.ts";
import type { Services } from "../../services.ts";

const CONTAINER_FILTERS = ["Current", "CurrentAndSubfolders", "AllFolders"] as const;
type ContainerFilter = typeof CONTAINER_FILTERS[number];

/** Reads the filter's name (`containerFilter` or the JS client's `query.containerFilterName`). */
export function containerFilterOf(value: string | undefined): ContainerFilter {
  if (!value) return "Current";
  const found = CONTAINER_FILTERS.find((f) => f.toLowerCase() === value.toLowerCase());
  if (!found) {
    throw badRequest(
      `containerFilter ${value} is not supported: use one of ${CONTAINER_FILTERS.join(", ")}`,
    );
  }
  return found;
}

/** The readable folders a filter covers, the current one first. */
async function foldersOf(
  svc: Services,
  actor: Actor,
  current: string,
  filter: ContainerFilter,
): Promise<string[]> {
  if (filter === "Current") return [current];
  const readable = (await visibleContainers(svc, actor)).map((f) => f.path);
  const inside = (path: string) =>
    filter === "AllFolders" || path === current ||
    path.startsWith(current === "/" ? "/" : `${current}/`);
  return [current, ...readable.filter((p) => p !== current && inside(p))];
}

/** PostgreSQL's order for one column: nulls after everything, so first when descending. */
function compare(a: JsonValue, b: JsonValue): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a) < String(b) ? -1 : 1;
}

/**
 * selectRows over the list named `name` in every folder the filter covers.
 * The current folder's list must exist (as with Current); others that lack
 * it, or a column the query names, are left out.
 */
export async function selectAcrossFolders(
  svc: Services,
  actor: Actor,
  current: ListDefinition,
  filter: ContainerFilter,
  query: RowQuery,
): Promise<{ rows: Row[]; total: number; columns: ListDefinition["columns"] }> {
  if (filter === "Current") return await selectRows(svc, actor, current, query);
  const offset = query.offset ?? 0;
  const limit = query.limit ?? 100;
  const results = [];
  for (const path of await foldersOf(svc, actor, current.container.path, filter)) {
    const def = path === current.container.path
      ? current
      : await getList(svc, actor, path, current.list.name).catch(() => null);
    if (!def) continue;
    const named = [...(query.columns ?? []), ...(query.sort ?? []).map((s) => s.column)];
    if (named.some((n) => !def.columns.some((c) => c.name.toLowerCase() === n.toLowerCase()))) {
      continue;
    }
    // Each list gives its first offset + limit rows in order; the merged page is among them.
    results.push(await selectRows(svc, actor, def, { ...query, offset: 0, limit: offset + limit }));
  }
  const sort = query.sort ?? [];
  const keyName = current.columns.find((c) => c.column_name === current.list.key_column)!.name;
  const rows = results.flatMap((r) => r.rows);
  if (sort.length) {
    rows.sort((a, b) => {
      for (const s of sort) {
        const order = compare(a[s.column] ?? null, b[s.column] ?? null);
        if (order) return s.descending ? -order : order;
      }
      return compare(a[keyName] ?? null, b[keyName] ?? null);
    });
  }
  return {
    rows: rows.slice(offset, offset + limit),
    total: results.reduce((sum, r) => sum + r.total, 0),
    columns: results[0].columns,
  };
}
