/** The site admin's audit log page and its CSV/TSV export. */
import { Hono } from "hono";
import type { AuditEntry } from "../../src/db/schema.ts";
import { badRequest } from "../../src/errors.ts";
import { COLUMNS as AUDIT_TABLE_COLUMNS } from "../../src/audit/mod.ts";
import {
  auditEntries,
  type AuditFilter,
  type AuditOrder,
  searchAudit,
} from "../../src/audit/query.ts";
import type { JsonValue } from "../../src/data/column_types.ts";
import { exportStream } from "../../src/data/csv.ts";
import { auditActor } from "../../src/core/actor.ts";
import { adminOnly, type AppContext, type Env } from "../http/context.ts";
import { canonicalGridUrl, ColumnChooser } from "./list_grid.tsx";
import { page } from "../ui/render.tsx";

/** Entries per page of the audit grid. */
const AUDIT_PAGE = 300;

/** The audit grid's columns: heading and cell. */
const AUDIT_COLUMNS: [string, (e: AuditEntry) => unknown][] = [
  ["When (UTC)", (e) => e.at.toISOString().replace("T", " ").slice(0, 19)],
  ["Door", (e) => e.door],
  ["Event", (e) => e.event],
  ["Outcome", (e) => `${e.outcome}${e.message ? `: ${e.message}` : ""}`],
  ["User", (e) => e.user_email],
  [
    "Credential",
    (e) => `${e.credential_kind ?? ""}${e.credential_id ? ` ${e.credential_id}` : ""}`,
  ],
  ["Folder", (e) => e.container_path],
  ["Detail", (e) => <code>{e.detail}</code>],
  ["Rows", (e) => e.rows],
  ["ms", (e) => e.duration_ms?.toFixed(1)],
  ["Client", (e) => e.client_addr],
];

const CELL_CLASS: Record<string, string> = { Detail: "detail", Rows: "num", ms: "num" };

/** Every column of an entry, as the table names them, for exports. */
const AUDIT_EXPORT_COLUMNS = ["id", "at", ...AUDIT_TABLE_COLUMNS];

/** The audit filter in the URL (shareable), as the form shows it and as the query takes it. */
function auditFilter(c: AppContext): { filter: AuditFilter; form: Record<string, string> } {
  const form = Object.fromEntries(
    ["user", "event", "door", "outcome", "from", "to", "order", "before", "after"].map((
      k,
    ) => [k, c.req.query(k) ?? ""]),
  );
  const day = (text: string, name: string) => {
    if (!text) return undefined;
    const date = new Date(`${text}T00:00:00Z`);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(date.getTime())) {
      throw badRequest(`${name} must be a date as YYYY-MM-DD, got "${text}"`);
    }
    return date;
  };
  const to = day(form.to, "To");
  const cursor = (name: "before" | "after") => {
    const value = form[name] ? Number(form[name]) : undefined;
    if (value !== undefined && !Number.isInteger(value)) {
      throw badRequest(`${name} must be an entry number, got "${form[name]}"`);
    }
    return value;
  };
  if (form.order && form.order !== "newest" && form.order !== "oldest") {
    throw badRequest(`order must be newest or oldest, got "${form.order}"`);
  }
  return {
    form,
    filter: {
      user: form.user || undefined,
      event: form.event || undefined,
      door: form.door || undefined,
      outcome: form.outcome || undefined,
      from: day(form.from, "From"),
      to: to && new Date(to.getTime() + 86_400_000),
      order: (form.order || undefined) as AuditOrder | undefined,
      before: cursor("before"),
      after: cursor("after"),
    },
  };
}

/** /admin/audit and its export. */
export function registerAuditPages(app: Hono<Env>): void {
  app.get("/admin/audit", async (c) => {
    await adminOnly(c);
    const svc = c.get("svc");
    const url = new URL(c.req.url);
    const canonical = canonicalGridUrl(url, AUDIT_COLUMNS.map(([name]) => name));
    if (canonical) return c.redirect(canonical, 303);
    const { filter, form } = auditFilter(c);
    const { entries, next } = await searchAudit(svc, filter, AUDIT_PAGE);
    const oldestFirst = filter.order === "oldest";
    const chosen = c.req.query("columns")?.split(",");
    const shown = AUDIT_COLUMNS.filter(([name]) => !chosen || chosen.includes(name));
    const query = new URLSearchParams(
      Object.entries(form).filter(([, v]) => v !== ""),
    );
    const link = (path: string, extra: Record<string, string> = {}) => {
      const params = new URLSearchParams(query);
      for (const [k, v] of Object.entries(extra)) params.set(k, v);
      return `${path}?${params}`;
    };
    return page(c, {
      title: "Audit log",
      children: (
        <>
          <h1>Audit log</h1>
          <form method="get" class="row">
            <div>
              <label for="user">User email contains</label>
              <input id="user" name="user" type="text" value={form.user} />
            </div>
            <div>
              <label for="event">Event starts with</label>
              <input id="event" name="event" type="text" value={form.event} />
            </div>
            <div>
              <label for="door">Door</label>
              <select id="door" name="door">
                {["", "web", "api", "sql", "key", "token", "remote", "system"].map((d) => (
                  <option value={d} selected={form.door === d}>{d || "any"}</option>
                ))}
              </select>
            </div>
            <div>
              <label for="outcome">Outcome</label>
              <select id="outcome" name="outcome">
                {["", "ok", "denied", "failed", "error"].map((o) => (
                  <option value={o} selected={form.outcome === o}>{o || "any"}</option>
                ))}
              </select>
            </div>
            <div>
              <label for="from">From (UTC)</label>
              <input id="from" name="from" type="date" value={form.from} />
            </div>
            <div>
              <label for="to">To (UTC, inclusive)</label>
              <input id="to" name="to" type="date" value={form.to} />
            </div>
            <div>
              <label for="order">Order</label>
              <select id="order" name="order">
                <option value="newest" selected={!oldestFirst}>Newest first</option>
                <option value="oldest" selected={oldestFirst}>Oldest first</option>
              </select>
            </div>
            <div>
              <button type="submit">Filter</button>
            </div>
          </form>
          <p>
            Export these entries: <a href={link("/admin/audit.csv")}>CSV</a> ·{" "}
            <a href={link("/admin/audit.tsv")}>TSV</a>
          </p>
          <ColumnChooser
            names={AUDIT_COLUMNS.map(([name]) => name)}
            shown={chosen}
            params={query}
          />
          <div class="grid" role="region" aria-label="Audit entries" tabindex={0}>
            <table class="audit">
              <thead>
                <tr>
                  {shown.map(([name]) => <th>{name}</th>)}
                </tr>
              </thead>
              <tbody>
                {entries.map((e) => (
                  <tr>
                    {shown.map(([name, cell]) => <td class={CELL_CLASS[name]}>{cell(e)}</td>)}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="pager">
            {(form.before || form.after) && (
              <a href={link("/admin/audit", { before: "", after: "" })}>
                {oldestFirst ? "Oldest" : "Newest"}
              </a>
            )}
            <span>
              {entries.length} entries
              {form.before ? ` older than #${form.before}` : ""}
              {form.after ? ` newer than #${form.after}` : ""}
            </span>
            {next !== null && (
              <a href={link("/admin/audit", { [oldestFirst ? "after" : "before"]: String(next) })}>
                {oldestFirst ? "Newer →" : "Older →"}
              </a>
            )}
          </div>
        </>
      ),
    });
  });

  for (const format of ["csv", "tsv"] as const) {
    app.get(`/admin/audit.${format}`, async (c) => {
      const actor = await adminOnly(c);
      const svc = c.get("svc");
      const { filter } = auditFilter(c);
      svc.audit.record({ ...auditActor(actor), event: "audit.export", outcome: "ok" });
      const rows = async function* () {
        for await (const batch of auditEntries(svc, filter)) {
          yield batch.map((e) =>
            ({
              ...e,
              at: e.at.toISOString(),
              compliance: e.compliance as JsonValue,
            }) as unknown as Record<string, JsonValue>
          );
        }
      };
      const columns = AUDIT_EXPORT_COLUMNS.map((name) => ({ name }));
      return c.body(exportStream(columns, rows(), { format }), 200, {
        "content-type": `${
          format === "csv" ? "text/csv" : "text/tab-separated-values"
        }; charset=utf-8`,
        "content-disposition": `attachment; filename="audit.${format}"`,
      });
    });
  }
}
