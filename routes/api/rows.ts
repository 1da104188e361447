/** /api/lists/{id}/rows, import and export: a list's rows, all or nothing per call. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { formulaHandling } from "../../src/data/csv.ts";
import { exportRows } from "../../src/data/export.ts";
import {
  deleteRows,
  filtersFromParams,
  importRows,
  insertRows,
  selectRows,
  updateRows,
} from "../../src/data/rows.ts";
import { type Env, requireActor, statementTimeoutOf } from "../http/context.ts";
import { listOf } from "./lists.ts";
import * as S from "../http/schemas.ts";
import { body, errors, json, route } from "../http/schemas.ts";

export function registerRowApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "get",
      path: "/lists/{id}/rows",
      operationId: "listRows",
      tags: ["Rows"],
      summary: "Rows, paged; filter with `<column>~<op>=<value>` (eq, neq, gt, gte, lt, lte, " +
        "contains, startswith, in (values separated by ;), isblank, …)",
      request: {
        params: S.IdParam,
        query: z.object({
          limit: z.coerce.number().int().min(0).optional(),
          offset: z.coerce.number().int().min(0).optional(),
          sort: z.string().optional().openapi({
            description: "Column name; prefix with - for descending",
          }),
        }),
      },
      responses: { 200: json(S.RowPage, "Rows"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const { limit = 100, offset = 0, sort } = c.req.valid("query");
      const filters = filtersFromParams(new URL(c.req.url).searchParams);
      const svc = c.get("svc");
      const actor = requireActor(c);
      const result = await selectRows(svc, actor, def, {
        limit,
        offset,
        filters,
        sort: sort ? [{ column: sort.replace(/^-/, ""), descending: sort.startsWith("-") }] : [],
        timeoutMs: await statementTimeoutOf(svc, actor),
      });
      return c.json({ rows: result.rows, total: result.total, limit, offset }, 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/lists/{id}/rows",
      operationId: "insertRows",
      tags: ["Rows"],
      summary: "Insert rows in one transaction (needs Insert); returns them as stored",
      request: { params: S.IdParam, ...body(S.Rows) },
      responses: { 201: json(S.Rows, "Inserted"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const rows = await insertRows(c.get("svc"), requireActor(c), def, c.req.valid("json").rows);
      return c.json({ rows }, 201);
    },
  );

  api.openapi(
    route({
      method: "patch",
      path: "/lists/{id}/rows",
      operationId: "updateRows",
      tags: ["Rows"],
      summary: "Update rows by key in one transaction (needs Update)",
      request: { params: S.IdParam, ...body(S.Rows) },
      responses: { 200: json(S.Rows, "Updated"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const rows = await updateRows(c.get("svc"), requireActor(c), def, c.req.valid("json").rows);
      return c.json({ rows }, 200);
    },
  );

  api.openapi(
    route({
      method: "delete",
      path: "/lists/{id}/rows",
      operationId: "deleteRows",
      tags: ["Rows"],
      summary: "Delete rows by key in one transaction (needs Delete); returns them",
      request: { params: S.IdParam, ...body(S.Keys) },
      responses: { 200: json(S.Rows, "Deleted"), ...errors },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const rows = await deleteRows(c.get("svc"), requireActor(c), def, c.req.valid("json").keys);
      return c.json({ rows }, 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/lists/{id}/import",
      operationId: "importRows",
      tags: ["Rows"],
      summary: "Import CSV/TSV: all rows or nothing. Send text/csv, text/tab-separated-values, " +
        "or JSON {text, format}",
      request: {
        params: S.IdParam,
        body: {
          content: {
            "application/json": { schema: S.ImportInput },
            "text/csv": { schema: z.string() },
            "text/tab-separated-values": { schema: z.string() },
          },
          // Not "required": that would run the JSON validator on CSV bodies too.
          required: false,
        },
      },
      responses: {
        200: json(z.object({ inserted: z.number().int() }).openapi("Imported"), "Imported"),
        ...errors,
      },
    }),
    async (c) => {
      const def = await listOf(c, c.req.valid("param").id);
      const type = c.req.header("content-type") ?? "";
      let text: string | Uint8Array;
      let format: "csv" | "tsv" | undefined;
      if (type.startsWith("application/json")) {
        ({ text, format } = c.req.valid("json") as z.infer<typeof S.ImportInput>);
      } else {
        text = new Uint8Array(await c.req.arrayBuffer());
        format = type.startsWith("text/tab-separated-values")
          ? "tsv"
          : type.startsWith("text/csv")
          ? "csv"
          : undefined;
      }
      const { inserted } = await importRows(c.get("svc"), requireActor(c), def, { text, format });
      return c.json({ inserted }, 200);
    },
  );

  api.openapi(
    route({
      method: "get",
      path: "/lists/{id}/export",
      operationId: "exportRows",
      tags: ["Rows"],
      summary: "All rows (or the filtered ones) as CSV or TSV, streamed",
      description:
        "Filters (`<column>~<op>=<value>`), `sort` and `columns` as for listRows. Cells that a " +
        "spreadsheet would run as a formula (starting with =, +, -, @, tab or CR, numbers " +
        "excepted) get a leading `'`; `formulas=keep` exports them as they are.",
      request: {
        params: S.IdParam,
        query: z.object({
          format: z.enum(["csv", "tsv"]).optional(),
          formulas: z.enum(["neutralize", "keep"]).optional(),
          sort: z.string().optional().openapi({
            description: "Column name; prefix with - for descending",
          }),
          columns: z.string().optional().openapi({ description: "Column names, comma-separated" }),
        }),
      },
      responses: {
        200: {
          content: {
            "text/csv": { schema: z.string() },
            "text/tab-separated-values": { schema: z.string() },
          },
          description: "The rows, header first",
        },
        ...errors,
      },
    }),
    async (c) => {
      const svc = c.get("svc");
      const actor = requireActor(c);
      const def = await listOf(c, c.req.valid("param").id);
      const { format = "csv", formulas, sort, columns } = c.req.valid("query");
      const query = {
        filters: filtersFromParams(new URL(c.req.url).searchParams),
        sort: sort ? [{ column: sort.replace(/^-/, ""), descending: sort.startsWith("-") }] : [],
        columns: columns ? columns.split(",").map((name) => name.trim()) : undefined,
      };
      const { body, contentType } = await exportRows(svc, actor, def, query, {
        format,
        formulas: formulaHandling(formulas),
      });
      return c.body(body, 200, { "content-type": contentType });
    },
  );
}
