/**
 * The state of a list's grid, all in its URL so a view can be shared: the
 * JSON API's parameters (`<column>~<op>=<value>` filters, `sort`, `columns`)
 * plus `page`. Forms without script cannot name a parameter after a column,
 * so the filter and column forms send `add`/`show` fields, and the page
 * redirects to the canonical URL they stand for.
 */
import type { ListDefinition } from "../../src/data/lists.ts";
import { type Filter, filtersFromParams, type RowQuery } from "../../src/data/rows.ts";
import { Field, FieldRow, Labelled } from "../ui/forms.tsx";

/** The operators the filter bar offers, as LabKey's grid names them. */
const FILTER_CHOICES: [op: string, label: string][] = [
  ["eq", "equals"],
  ["neq", "does not equal"],
  ["contains", "contains"],
  ["startswith", "starts with"],
  ["gt", "is greater than"],
  ["gte", "is at least"],
  ["lt", "is less than"],
  ["lte", "is at most"],
  ["isblank", "is blank"],
  ["isnonblank", "is not blank"],
  ["in", "is one of (a;b;c)"],
];

/** Parameters of the grid's own, beside the filters. */
const GRID_PARAMS = ["sort", "desc", "columns", "page"];

export interface GridState {
  query: Required<Pick<RowQuery, "filters" | "sort">> & { columns?: string[] };
  page: number;
  /** The grid's parameters, for building links that change one thing. */
  params: URLSearchParams;
}

/**
 * The canonical URL a filter or column form stands for, or null when the URL
 * already is one. `columns` are the grid's column names.
 */
export function canonicalGridUrl(url: URL, columns: string[]): string | null {
  const params = new URLSearchParams(url.search);
  let changed = false;
  const column = params.get("add.column");
  if (column !== null) {
    const op = params.get("add.op") ?? "eq";
    params.append(`${column}~${op}`, params.get("add.value") ?? "");
    changed = true;
  }
  if (params.has("show.choose")) {
    const shown = params.getAll("show");
    if (shown.length && shown.length < columns.length) params.set("columns", shown.join(","));
    else params.delete("columns");
    changed = true;
  }
  if (!changed) return null;
  for (const name of ["add.column", "add.op", "add.value", "show", "show.choose"]) {
    params.delete(name);
  }
  params.delete("page");
  return `${url.pathname}?${params}`;
}

export function gridState(url: URL): GridState {
  const params = new URLSearchParams(url.search);
  for (const name of [...params.keys()]) {
    if (!name.includes("~") && !GRID_PARAMS.includes(name)) params.delete(name);
  }
  const sort = params.get("sort");
  const columns = params.get("columns")?.split(",").map((c) => c.trim()).filter(Boolean);
  return {
    query: {
      filters: filtersFromParams(params),
      sort: sort ? [{ column: sort, descending: params.get("desc") === "1" }] : [],
      columns: columns?.length ? columns : undefined,
    },
    page: Math.max(1, Number(params.get("page") ?? 1) || 1),
    params,
  };
}

/** A link to the grid with some parameters changed (null removes one); back to page 1 unless set. */
export function gridLink(state: GridState, changes: Record<string, string | null>): string {
  const params = new URLSearchParams(state.params);
  if (!("page" in changes)) params.delete("page");
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) params.delete(name);
    else params.set(name, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "?";
}

/** The grid's link without one filter. */
function withoutFilter(state: GridState, filter: Filter): string {
  const params = new URLSearchParams();
  let dropped = false;
  for (const [name, value] of state.params) {
    if (!dropped && name === `${filter.column}~${filter.op}` && value === filter.value) {
      dropped = true;
      continue;
    }
    if (name !== "page") params.append(name, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "?";
}

/** The filter bar: the filters in force (each removable) and a form to add one. */
export function FilterBar(props: { def: ListDefinition; state: GridState }) {
  const { def, state } = props;
  const label = (op: string) => FILTER_CHOICES.find(([o]) => o === op)?.[1] ?? op;
  return (
    <div class="card">
      <form method="get" aria-label="Add a filter">
        {[...state.params].map(([name, value]) =>
          name === "page" ? null : <input type="hidden" name={name} value={value} />
        )}
        <FieldRow>
          <Labelled id="add-column" label="Filter column">
            <select id="add-column" name="add.column">
              {def.columns.map((col) => <option value={col.name}>{col.name}</option>)}
            </select>
          </Labelled>
          <Labelled id="add-op" label="Condition">
            <select id="add-op" name="add.op">
              {FILTER_CHOICES.map(([op, text]) => <option value={op}>{text}</option>)}
            </select>
          </Labelled>
          <Field id="add-value" name="add.value" label="Value" />
          <button type="submit">Add filter</button>
        </FieldRow>
      </form>
      {state.query.filters.length > 0 && (
        <ul class="filters" aria-label="Filters in force">
          {state.query.filters.map((f) => (
            <li>
              {f.column} {label(f.op)}{" "}
              {f.op === "isblank" || f.op === "isnonblank" ? "" : <code>{String(f.value)}</code>}
              {" "}
              <a href={withoutFilter(state, f)}>remove</a>
            </li>
          ))}
          <li>
            <a
              href={gridLink(
                state,
                Object.fromEntries(state.query.filters.map((f) => [`${f.column}~${f.op}`, null])),
              )}
            >
              Remove all filters
            </a>
          </li>
        </ul>
      )}
    </div>
  );
}

/** Which of `names` the grid shows (all when `shown` is absent), as a form that keeps the rest of the URL. */
export function ColumnChooser(
  props: { names: string[]; shown?: string[]; params: URLSearchParams },
) {
  const shown = new Set(props.shown ?? props.names);
  return (
    <details class="card">
      <summary>Columns</summary>
      <form method="get">
        {[...props.params].map(([name, value]) =>
          name === "columns" || name === "page"
            ? null
            : <input type="hidden" name={name} value={value} />
        )}
        <input type="hidden" name="show.choose" value="1" />
        <fieldset>
          <legend>Show these columns</legend>
          {props.names.map((name) => (
            <label>
              <input type="checkbox" name="show" value={name} checked={shown.has(name)} /> {name}
            </label>
          ))}
        </fieldset>
        <button type="submit">Show</button>
      </form>
    </details>
  );
}
