/** The new-list page: a list designed column by column, or read from a CSV or TSV file. */
import { COLUMN_TYPES, type ColumnTypeName } from "../../src/data/column_types.ts";
import { requireContainer } from "../../src/data/containers.ts";
import { createList, deleteList } from "../../src/data/lists.ts";
import { importRows } from "../../src/data/rows.ts";
import { inferColumns } from "../../src/data/csv_inference.ts";
import { badRequest } from "../../src/errors.ts";
import type { Services } from "../../src/services.ts";
import { Permission } from "../../src/security/permissions.ts";
import { type AppContext, requireActor } from "../http/context.ts";
import { Breadcrumbs, CsrfField, folderUrl, PhiLevelSelect } from "../ui/layout.tsx";
import { Submit, Table } from "../ui/forms.tsx";
import { field, formError, page, redirectWith } from "../ui/render.tsx";
import { listUrl } from "./lists.tsx";

const TYPES = Object.keys(COLUMN_TYPES) as ColumnTypeName[];

export async function newListPage(
  c: AppContext,
  path: string,
  error?: ReturnType<typeof formError>,
  body?: Record<string, unknown>,
) {
  const actor = requireActor(c);
  const { container } = await requireContainer(c.get("svc"), actor, { path }, Permission.ADMIN);
  const value = (name: string) => (body ? field(body, name) : "");
  const prefilled = Array.from({ length: 200 }, (_, i) => value(`col${i}.name`)).filter(Boolean);
  const asked = Number(c.req.query("columns") ?? 12) || 12;
  const count = Math.min(Math.max(asked, prefilled.length, 1), 200);
  const csvRows = value("csv") ? Number(value("csv_rows")) : 0;
  return page(c, {
    title: `New list · ${container.path}`,
    error: error?.error,
    children: (
      <>
        <Breadcrumbs path={container.path} tail="New list" />
        <h1>New list in {container.path}</h1>
        {!csvRows && (
          <form method="post" enctype="multipart/form-data" class="card" aria-label="From a file">
            <h2>From a CSV or TSV file</h2>
            <p class="muted">
              The columns and their types are read from the file; check them below, then create the
              list with the file's rows.
            </p>
            <CsrfField actor={actor} />
            <input type="hidden" name="_action" value="infer" />
            <label for="infer-file">File</label>
            <input id="infer-file" name="file" type="file" required accept=".csv,.tsv,.txt" />
            <p>
              <button type="submit" class="secondary">Read the columns</button>
            </p>
          </form>
        )}
        <form method="post">
          <CsrfField actor={actor} />
          {csvRows > 0 && (
            <div class="card" id="from-file">
              <p>
                Columns read from{" "}
                {value("csv_file")}: check the names, types and key. Creating the list imports its
                {" "}
                {csvRows} row{csvRows === 1 ? "" : "s"}; if any row is refused, nothing is created.
              </p>
              <input type="hidden" name="csv" value={value("csv")} />
              <input type="hidden" name="csv_rows" value={String(csvRows)} />
              <input type="hidden" name="csv_file" value={value("csv_file")} />
            </div>
          )}
          <div class="row">
            <div>
              <label for="name">List name (letters, digits, _)</label>
              <input id="name" name="name" type="text" required value={value("name")} />
            </div>
            <div>
              <label for="description">Description</label>
              <input id="description" name="description" type="text" value={value("description")} />
            </div>
          </div>
          <label>Key</label>
          <p>
            <label>
              <input
                type="radio"
                name="keymode"
                value="auto"
                checked={value("keymode") !== "column"}
              />{" "}
              Number rows automatically in an Integer column named
            </label>
            <input
              name="autokey"
              type="text"
              aria-label="Name of the automatically numbered key column"
              value={value("autokey") || "Key"}
            />
          </p>
          <p>
            <label>
              <input
                type="radio"
                name="keymode"
                value="column"
                checked={value("keymode") === "column"}
              />{" "}
              Use one of the columns below as the key (Integer, BigInteger, Text or UUID):
            </label>
            <input
              name="keycolumn"
              type="text"
              placeholder="column name"
              value={value("keycolumn")}
            />
          </p>
          <h2>Columns</h2>
          <Table head={["Name", "Type", "Required", "PHI level"]}>
            {Array.from({ length: count }, (_, i) => (
              <tr>
                <td>
                  <input
                    name={`col${i}.name`}
                    type="text"
                    aria-label={`Column ${i + 1} name`}
                    value={value(`col${i}.name`)}
                  />
                </td>
                <td>
                  <select name={`col${i}.type`} aria-label={`Column ${i + 1} type`}>
                    {TYPES.map((t) => (
                      <option value={t} selected={value(`col${i}.type`) === t}>{t}</option>
                    ))}
                  </select>
                </td>
                <td>
                  <input
                    type="checkbox"
                    name={`col${i}.required`}
                    value="on"
                    aria-label={`Column ${i + 1} required`}
                    checked={value(`col${i}.required`) === "on"}
                  />
                </td>
                <td>
                  <PhiLevelSelect
                    id={`col${i}.phi`}
                    name={`col${i}.phi`}
                    label={`Column ${i + 1} PHI level`}
                    value={value(`col${i}.phi`) || "not_phi"}
                  />
                </td>
              </tr>
            ))}
          </Table>
          <p class="muted">
            Need more columns?{" "}
            <a href={folderUrl(container.path, `/-/new-list?columns=${count + 12}`)}>
              Show {count + 12} rows
            </a>
          </p>
          <Submit>Create list</Submit>
        </form>
      </>
    ),
  }, error?.status ?? 200);
}

/** The new-list form filled from a file's inferred columns (and carrying the file). */
async function inferredForm(svc: Services, file: unknown): Promise<Record<string, string>> {
  if (!(file instanceof File) || file.size === 0) throw badRequest("Choose a CSV or TSV file");
  const bytes = new Uint8Array(await file.arrayBuffer());
  const inferred = await inferColumns(bytes, svc.config.importLimits);
  const base = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_]/g, "_");
  const form: Record<string, string> = {
    name: /^[A-Za-z]/.test(base) ? base : `list_${base}`,
    keymode: inferred.key ? "column" : "auto",
    keycolumn: inferred.key ?? "",
    autokey: "Key",
    csv: new TextDecoder().decode(bytes),
    csv_rows: String(inferred.rows),
    csv_file: file.name,
  };
  inferred.columns.forEach((column, i) => {
    form[`col${i}.name`] = column.name;
    form[`col${i}.type`] = column.type;
    if (column.required) form[`col${i}.required`] = "on";
  });
  return form;
}

export async function newListPost(c: AppContext, path: string) {
  const svc = c.get("svc");
  const actor = requireActor(c);
  const body = await c.req.parseBody();
  if (field(body, "_action") === "infer") {
    try {
      return await newListPage(c, path, undefined, await inferredForm(svc, body.file));
    } catch (error) {
      return await newListPage(c, path, formError(error));
    }
  }
  try {
    const columns = [];
    for (let i = 0; i < 200; i++) {
      const name = field(body, `col${i}.name`).trim();
      if (!name) continue;
      columns.push({
        name,
        type: field(body, `col${i}.type`),
        required: field(body, `col${i}.required`) === "on",
        phi: field(body, `col${i}.phi`),
      });
    }
    const auto = field(body, "keymode") !== "column";
    const def = await createList(svc, actor, path, {
      name: field(body, "name"),
      description: field(body, "description"),
      columns,
      key: auto ? field(body, "autokey") || "Key" : field(body, "keycolumn"),
      autoKey: auto,
    });
    const csv = field(body, "csv");
    if (!csv) return redirectWith(c, listUrl(def), `List ${def.list.name} created`);
    try {
      const { inserted } = await importRows(svc, actor, def, { text: csv });
      return redirectWith(c, listUrl(def), `List ${def.list.name} created with ${inserted} rows`);
    } catch (error) {
      // The file's rows come with the list or not at all: no half-made list stays behind.
      await deleteList(svc, actor, def.container.path, def.list.name);
      throw error;
    }
  } catch (error) {
    return newListPage(c, path, formError(error), body);
  }
}
