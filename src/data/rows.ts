/**
 * Rows of a list: select with filters, sort and paging; insert, update and
 * delete in one transaction each; CSV/TSV import that either loads every
 * row or changes nothing. The parts: `rows_read.ts`, `rows_write.ts`,
 * `rows_import.ts`, `rows_filters.ts`, and what they share, `rows_columns.ts`.
 */
export {
  findColumn,
  MAX_ROWS_PER_REQUEST,
  type Row,
  type RowError,
  visibleColumnsOf,
} from "./rows_columns.ts";
export { type Filter, FILTER_OPS, type FilterOp, filtersFromParams } from "./rows_filters.ts";
export { rowBatches, type RowQuery, selectRows } from "./rows_read.ts";
export { deleteRows, insertRows, updateRows } from "./rows_write.ts";
export { importRows } from "./rows_import.ts";
