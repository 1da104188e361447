/** List pages: a list's grid with paging, row edits, CSV/TSV import and CSV export (new lists: new_list.tsx). */
import type { JsonValue } from "../../src/data/column_types.ts";
import { deleteList, getList, type ListDefinition } from "../../src/data/lists.ts";
import {
  deleteRows,
  importRows,
  insertRows,
  type Row,
  selectRows,
  updateRows,
  visibleColumnsOf,
} from "../../src/data/rows.ts";
import { type ExportFormat, formulaHandling } from "../../src/data/csv.ts";
import { exportRows } from "../../src/data/export.ts";
import {
  applyDesignChange,
  type DesignPreview,
  previewDesignChange,
} from "../../src/data/list_design.ts";
import { badRequest } from "../../src/errors.ts";
import { Permission } from "../../src/security/permissions.ts";
import { PHI_LEVEL_LABELS } from "../../src/security/phi.ts";
import type { Actor } from "../../src/core/actor.ts";
import { type AppContext, requireActor, statementTimeoutOf } from "../http/context.ts";
import { Breadcrumbs, CsrfField, folderUrl } from "../ui/layout.tsx";
import { DesignCard, designChangeOf, DesignPreviewCard } from "./list_design.tsx";
import {
  canonicalGridUrl,
  ColumnChooser,
  FilterBar,
  gridLink,
  type GridState,
  gridState,
} from "./list_grid.tsx";
import { field, formError, page, redirectWith } from "../ui/render.tsx";
const PAGE_SIZE = 50;

export function listUrl(def: ListDefinition, suffix = ""): string {
  return folderUrl(def.container.path, `/-/lists/${def.list.name}${suffix}`);
}

function display(value: JsonValue): string {
  if (value === null) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function ValueInput(
  props: { column: ListDefinition["columns"][number]; value?: JsonValue; prefix: string },
) {
  const { column } = props;
  const name = `${props.prefix}${column.column_name}`;
  const value = props.value === undefined ? "" : display(props.value);
  const label = `${column.name} (${column.type}${column.required ? ", required" : ""})`;
  switch (column.type) {
    case "Boolean":
      return (
        <select name={name} aria-label={label}>
          <option value="" selected={value === ""}></option>
          <option value="true" selected={value === "true"}>true</option>
          <option value="false" selected={value === "false"}>false</option>
        </select>
      );
    case "Date":
      return <input type="date" name={name} value={value} aria-label={label} />;
    case "DateTime":
      return (
        <input
          type="text"
          name={name}
          value={value}
          placeholder="YYYY-MM-DD HH:MM:SS"
          aria-label={label}
        />
      );
    case "JSON":
      return <textarea name={name} aria-label={label} class="json-cell">{value}</textarea>;
    default:
      return <input type="text" name={name} value={value} aria-label={label} />;
  }
}

function rowFromForm(
  def: ListDefinition,
  body: Record<string, unknown>,
  prefix: string,
): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const column of def.columns) {
    const key = `${prefix}${column.column_name}`;
    if (key in body) row[column.name] = field(body, key);
  }
  return row;
}

export async function listPage(
  c: AppContext,
  path: string,
  name: string,
  options: {
    export?: ExportFormat;
    error?: ReturnType<typeof formError>;
    body?: Record<string, unknown>;
    designPreview?: { preview: DesignPreview; body: Record<string, unknown> };
  } = {},
) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  const def = await getList(svc, actor, path, name);
  // What the page shows of the list: the columns at or below the actor's PHI level.
  const view = { ...def, columns: visibleColumnsOf(def, actor) };
  const url = new URL(c.req.url);
  const canonical = canonicalGridUrl(url, view.columns.map((col) => col.name));
  if (canonical) return c.redirect(canonical, 303);
  const state = gridState(url);
  const key = view.columns.find((col) => col.column_name === def.list.key_column)!;
  if (options.export) return await exportList(c, def, state, options.export);
  // The key stays in the grid whatever the column choice: the row actions need it.
  const chosen = state.query.columns;
  const columns = chosen
    ? view.columns.filter((col) => col.name === key.name || chosen.includes(col.name))
    : view.columns;
  const pageNumber = state.page;
  const { rows, total } = await selectRows(svc, actor, def, {
    ...state.query,
    columns: columns.map((col) => col.name),
    limit: PAGE_SIZE,
    offset: (pageNumber - 1) * PAGE_SIZE,
    timeoutMs: await statementTimeoutOf(svc, actor),
  });
  const bits = await svc.permissions.resolve(actor.userId, def.container.id);
  const can = (bit: number) => (bits & bit) !== 0;
  const editKey = c.req.query("edit");
  const editing = editKey !== undefined
    ? (await selectRows(svc, actor, def, {
      filters: [{ column: key.name, op: "eq", value: editKey }],
    })).rows[0]
    : undefined;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const sortColumn = state.query.sort[0]?.column;
  const sortLink = (column: string) =>
    gridLink(state, {
      sort: column,
      desc: sortColumn === column && !state.query.sort[0].descending ? "1" : null,
    });
  const pageLink = (n: number) => gridLink(state, { page: String(n) });
  return page(c, {
    title: `${def.list.name} · ${def.container.path}`,
    error: options.error?.error,
    errors: options.error?.errors,
    children: (
      <>
        <Breadcrumbs path={def.container.path} tail={def.list.name} />
        <h1>{def.list.name}</h1>
        {def.list.description && <p>{def.list.description}</p>}
        <p class="muted">
          {total} row{total === 1 ? "" : "s"}
          {state.query.filters.length ? " match the filters" : ""} · key {key.name} · Export{" "}
          <a href={listUrl(def, `/export.csv${gridLink(state, { page: null })}`)}>CSV</a> ·{" "}
          <a href={listUrl(def, `/export.tsv${gridLink(state, { page: null })}`)}>TSV</a>
        </p>
        {options.designPreview && (
          <DesignPreviewCard
            actor={actor}
            preview={options.designPreview.preview}
            body={options.designPreview.body}
          />
        )}
        <FilterBar def={view} state={state} />
        <ColumnChooser
          names={view.columns.map((col) => col.name)}
          shown={state.query.columns}
          params={state.params}
        />
        <div class="grid" role="region" aria-label={`Rows of ${def.list.name}`} tabindex={0}>
          <table>
            <thead>
              <tr>
                {columns.map((col) => (
                  <th>
                    <a href={sortLink(col.name)}>{col.name}</a> <span class="pill">{col.type}</span>
                    {col.phi !== "not_phi" && <span class="pill">{PHI_LEVEL_LABELS[col.phi]}</span>}
                  </th>
                ))}
                {(can(Permission.UPDATE) || can(Permission.DELETE)) && <th>Actions</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((row: Row) => (
                <tr>
                  {columns.map((col) => <td>{display(row[col.name])}</td>)}
                  {(can(Permission.UPDATE) || can(Permission.DELETE)) && (
                    <td>
                      {can(Permission.UPDATE) && (
                        <a href={`?edit=${encodeURIComponent(display(row[key.name]))}`}>Edit</a>
                      )} {can(Permission.DELETE) && (
                        <form class="inline" method="post">
                          <CsrfField actor={actor} />
                          <input type="hidden" name="_action" value="delete" />
                          <input type="hidden" name="key" value={display(row[key.name])} />
                          <button class="secondary" type="submit">Delete</button>
                        </form>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="pager">
          {pageNumber > 1 && <a href={pageLink(pageNumber - 1)}>← Previous</a>}
          <span>Page {pageNumber} of {pages}</span>
          {pageNumber < pages && <a href={pageLink(pageNumber + 1)}>Next →</a>}
        </div>
        {editing && can(Permission.UPDATE) && (
          <RowForm
            actor={actor}
            def={view}
            action="update"
            title={`Edit row ${display(editing[key.name])}`}
            row={editing}
          />
        )}
        {can(Permission.INSERT) && (
          <RowForm
            actor={actor}
            def={view}
            action="insert"
            title="Add a row"
            row={options.body ? rowFromForm(def, options.body, "v:") as Row : undefined}
          />
        )}
        {can(Permission.INSERT) && (
          <div class="card">
            <h2>Import rows from CSV or TSV</h2>
            <p class="muted">
              The first line names the columns ({view.columns.map((col) => col.name).join(", ")}).
              Every row is checked first: if any is wrong, nothing is imported.
            </p>
            <form method="post" enctype="multipart/form-data">
              <CsrfField actor={actor} />
              <input type="hidden" name="_action" value="import" />
              <label for="file">File</label>
              <input
                id="file"
                name="file"
                type="file"
                accept=".csv,.tsv,.txt,text/csv,text/tab-separated-values"
              />
              <label for="text">…or paste the data</label>
              <textarea id="text" name="text"></textarea>
              <label for="format">Format</label>
              <select id="format" name="format">
                <option value="">Detect</option>
                <option value="csv">CSV (comma)</option>
                <option value="tsv">TSV (tab)</option>
              </select>
              <p>
                <button type="submit">Import</button>
              </p>
            </form>
          </div>
        )}
        {can(Permission.ADMIN) && <DesignCard actor={actor} def={def} />}
        {can(Permission.ADMIN) && (
          <div class="card">
            <h2>Delete this list</h2>
            <form method="post">
              <CsrfField actor={actor} />
              <input type="hidden" name="_action" value="delete-list" />
              <label>
                <input type="checkbox" name="confirm" value="yes" required /> Delete {def.list.name}
                {" "}
                and all its rows
              </label>
              <button class="danger" type="submit">Delete list</button>
            </form>
          </div>
        )}
      </>
    ),
  }, options.error?.status ?? 200);
}

/** The grid's rows (all pages) as a streamed CSV or TSV download, audited. */
async function exportList(
  c: AppContext,
  def: ListDefinition,
  state: GridState,
  format: ExportFormat,
): Promise<Response> {
  const { body, contentType } = await exportRows(c.get("svc"), requireActor(c), def, state.query, {
    format,
    formulas: formulaHandling(c.req.query("formulas")),
  });
  return c.body(body, 200, {
    "content-type": contentType,
    "content-disposition": `attachment; filename="${def.list.name}.${format}"`,
  });
}

function RowForm(
  props: {
    actor: Actor;
    def: ListDefinition;
    action: "insert" | "update";
    title: string;
    row?: Row;
  },
) {
  const { def } = props;
  return (
    <div class="card">
      <h2>{props.title}</h2>
      <form method="post">
        <CsrfField actor={props.actor} />
        <input type="hidden" name="_action" value={props.action} />
        <div class="row">
          {def.columns
            .filter((col) =>
              !(def.list.key_auto && col.column_name === def.list.key_column &&
                props.action === "insert")
            )
            .map((col) => (
              <div>
                <label>
                  {col.name} <span class="pill">{col.type}</span>
                  {col.required && " *"}
                </label>
                {props.action === "update" && col.column_name === def.list.key_column
                  ? (
                    <>
                      <input
                        type="hidden"
                        name={`v:${col.column_name}`}
                        value={display(props.row?.[col.name] ?? null)}
                      />
                      <span>{display(props.row?.[col.name] ?? null)}</span>
                    </>
                  )
                  : <ValueInput column={col} value={props.row?.[col.name]} prefix="v:" />}
              </div>
            ))}
        </div>
        <p>
          <button type="submit">{props.action === "insert" ? "Add row" : "Save row"}</button>
        </p>
      </form>
    </div>
  );
}

export async function listPost(c: AppContext, path: string, name: string) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  const body = await c.req.parseBody();
  const def = await getList(svc, actor, path, name);
  try {
    switch (field(body, "_action")) {
      case "insert": {
        await insertRows(svc, actor, def, [rowFromForm(def, body, "v:")]);
        return redirectWith(c, listUrl(def), "Row added");
      }
      case "update": {
        await updateRows(svc, actor, def, [rowFromForm(def, body, "v:")]);
        return redirectWith(c, listUrl(def), "Row saved");
      }
      case "delete": {
        await deleteRows(svc, actor, def, [field(body, "key")]);
        return redirectWith(c, listUrl(def), "Row deleted");
      }
      case "import": {
        const file = body.file;
        const text = file instanceof File && file.size > 0
          ? new Uint8Array(await file.arrayBuffer())
          : field(body, "text");
        if (typeof text === "string" && !text.trim()) {
          throw badRequest("Choose a file or paste the data to import");
        }
        const format = field(body, "format");
        const { inserted } = await importRows(svc, actor, def, {
          text,
          format: format === "csv" || format === "tsv" ? format : undefined,
        });
        return redirectWith(
          c,
          listUrl(def),
          `Imported ${inserted} row${inserted === 1 ? "" : "s"}`,
        );
      }
      case "design-preview": {
        const preview = await previewDesignChange(svc, actor, def, designChangeOf(body));
        return await listPage(c, path, name, { designPreview: { preview, body } });
      }
      case "design-apply": {
        const { preview } = await applyDesignChange(svc, actor, def, designChangeOf(body));
        return redirectWith(c, listUrl(def), `Design changed. ${preview.effects.join(" ")}`);
      }
      case "delete-list": {
        await deleteList(svc, actor, def.container.path, def.list.name);
        return redirectWith(c, folderUrl(def.container.path), `List ${def.list.name} deleted`);
      }
      default:
        throw badRequest("Unknown action");
    }
  } catch (error) {
    return listPage(c, path, name, {
      error: formError(error),
      body: field(body, "_action") === "insert" ? body : undefined,
    });
  }
}
