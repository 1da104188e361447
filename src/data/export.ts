/**
 * A list's rows as a CSV or TSV download, for the page and the JSON API
 * alike: checked first (a bad column or filter is a 400, not a cut file),
 * audited, then streamed batch by batch.
 */
import { type Actor, auditActor } from "../core/actor.ts";
import type { Services } from "../services.ts";
import { type ExportFormat, exportStream, type FormulaHandling } from "./csv.ts";
import type { ListDefinition } from "./lists.ts";
import { rowBatches, type RowQuery, selectRows } from "./rows.ts";

const EXPORT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  tsv: "text/tab-separated-values; charset=utf-8",
};

export async function exportRows(
  svc: Services,
  actor: Actor,
  def: ListDefinition,
  query: Omit<RowQuery, "limit" | "offset" | "count">,
  options: { format: ExportFormat; formulas: FormulaHandling },
): Promise<{ body: ReadableStream<Uint8Array>; contentType: string }> {
  const { columns } = await selectRows(svc, actor, def, { ...query, limit: 0, count: false });
  svc.audit.record({
    ...auditActor(actor),
    event: "rows.export",
    outcome: "ok",
    containerId: def.container.id,
    containerPath: def.container.path,
    detail: def.list.name,
  });
  return {
    body: exportStream(columns, rowBatches(svc, actor, def, query), options),
    contentType: EXPORT_TYPES[options.format],
  };
}
