/**
 * The JSON shapes LabKey clients read: selectRows/executeSql responses in
 * the 8.3 (plain values) and 9.1+ (`{value}` wrapped) formats, column
 * metadata with XML Schema range URIs, values written as LabKey Server
 * writes them, and error bodies.
 */
import type { ColumnTypeName, JsonValue } from "../../data/column_types.ts";
import type { RowError } from "../../data/rows.ts";
import {
  badRequest,
  DATABASE_UNAVAILABLE,
  isDatabaseUnavailable,
  LabgateError,
} from "../../errors.ts";

const XSD = "http://www.w3.org/2001/XMLSchema#";

interface TypeInfo {
  jsonType: "string" | "int" | "float" | "boolean" | "date";
  /** The XML Schema type LabKey names in `rangeURI`. */
  xsd: string;
}

const TYPES: Record<ColumnTypeName, TypeInfo> = {
  Text: { jsonType: "string", xsd: "string" },
  Integer: { jsonType: "int", xsd: "int" },
  BigInteger: { jsonType: "int", xsd: "long" },
  Decimal: { jsonType: "float", xsd: "decimal" },
  Double: { jsonType: "float", xsd: "double" },
  Boolean: { jsonType: "boolean", xsd: "boolean" },
  Date: { jsonType: "date", xsd: "date" },
  DateTime: { jsonType: "date", xsd: "dateTime" },
  Timestamp: { jsonType: "date", xsd: "dateTime" },
  UUID: { jsonType: "string", xsd: "string" },
  JSON: { jsonType: "string", xsd: "string" },
};

/** XML Schema types a domain design may name, and the list column type each becomes. */
const FROM_XSD: Record<string, ColumnTypeName> = {
  string: "Text",
  multiLine: "Text",
  int: "Integer",
  integer: "Integer",
  long: "BigInteger",
  decimal: "Decimal",
  double: "Double",
  float: "Double",
  boolean: "Boolean",
  date: "Date",
  dateTime: "DateTime",
};

/** Text JSON.stringify writes as it is (JSON.rawJSON, in V8 but not yet in TypeScript's lib). */
interface RawJson {
  readonly rawJSON: string;
}
const rawJson = (JSON as unknown as { rawJSON(text: string): RawJson }).rawJSON;

/** A value as LabKey Server writes it, or raw JSON text for a number printed with its scale. */
type LabkeyValue = JsonValue | RawJson;

/** The date and time of an ISO 8601 value (labgate's: `2024-01-03T11:00:00Z`, `2024-01-03`). */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}:\d{2}:\d{2}(?:\.\d+)?))?/;

/**
 * A value in LabKey Server's JSON form, which its clients parse: dates and
 * date-times as `yyyy/MM/dd HH:mm:ss` (DateUtil's JSON format; Rlabkey's
 * `as.POSIXct`, LabKey's JavaScript API and pandas read it; timestamps in
 * UTC, labgate's database time zone, and fractions of a second kept), and a
 * Decimal as a JSON number printed with its scale, as LabKey writes a
 * BigDecimal (`12.50`).
 */
function labkeyValue(type: ColumnTypeName, value: JsonValue): LabkeyValue {
  if (typeof value !== "string") return value;
  if (type === "Decimal") return rawJson(value);
  if (type !== "Date" && type !== "DateTime" && type !== "Timestamp") return value;
  const m = ISO.exec(value);
  return m ? `${m[1]}/${m[2]}/${m[3]} ${m[4] ?? "00:00:00"}` : value;
}

/** Types whose values LabKey writes otherwise than labgate does (see labkeyValue). */
const CONVERTED: ReadonlySet<ColumnTypeName> = new Set([
  "Decimal",
  "Date",
  "DateTime",
  "Timestamp",
]);

/**
 * Rows of labgate values with each value in LabKey's form. Only the fields
 * whose type LabKey writes otherwise are touched, and rows with none of
 * them are handed back as they are: this runs for every row of a result.
 */
export function labkeyRows(
  fields: readonly { name: string; type: ColumnTypeName }[],
  rows: Record<string, JsonValue>[],
): Record<string, LabkeyValue>[] {
  const converted = fields.filter((f) => CONVERTED.has(f.type));
  if (!converted.length) return rows;
  return rows.map((row) => {
    const out: Record<string, LabkeyValue> = { ...row };
    for (const { name, type } of converted) {
      const value = row[name];
      if (value !== undefined) out[name] = labkeyValue(type, value);
    }
    return out;
  });
}

export function rangeUri(type: ColumnTypeName): string {
  return XSD + TYPES[type].xsd;
}

/** The list column type for a `rangeURI` (full URI or bare XML Schema name). */
export function typeFromRangeUri(uri: string): ColumnTypeName {
  const name = uri.startsWith(XSD) ? uri.slice(XSD.length) : uri.replace(/^xsd:/, "");
  const type = FROM_XSD[name];
  if (!type) {
    throw badRequest(
      `Unsupported rangeURI "${uri}": use ${XSD}<type> with one of ${
        Object.keys(FROM_XSD).join(", ")
      }`,
    );
  }
  return type;
}

/** One column of a result, as far as labgate knows it. */
export interface ResultField {
  name: string;
  type: ColumnTypeName;
  isKey?: boolean;
  autoIncrement?: boolean;
  required?: boolean;
  description?: string;
}

export function fieldMetadata(f: ResultField) {
  const { jsonType } = TYPES[f.type];
  return {
    name: f.name,
    fieldKey: { name: f.name, parent: null },
    fieldKeyPath: f.name,
    caption: f.name,
    shortCaption: f.name,
    description: f.description ?? null,
    type: jsonType,
    jsonType,
    friendlyType: f.type,
    rangeURI: rangeUri(f.type),
    isKeyField: f.isKey ?? false,
    isAutoIncrement: f.autoIncrement ?? false,
    isNullable: !(f.required ?? false),
    nullable: !(f.required ?? false),
    required: f.required ?? false,
    isReadOnly: f.autoIncrement ?? false,
    isHidden: false,
  };
}

function columnModel(f: ResultField) {
  return {
    dataIndex: f.name,
    header: f.name,
    hidden: false,
    sortable: true,
    editable: !(f.autoIncrement ?? false),
    required: f.required ?? false,
    align: TYPES[f.type].jsonType === "string" ? "left" : "right",
    width: 60,
    scale: 0,
  };
}

interface RowsResult {
  schemaName: string;
  queryName: string;
  fields: ResultField[];
  rows: Record<string, JsonValue>[];
  rowCount: number;
}

/**
 * A selectRows/executeSql answer in the format the client asked for: 8.3
 * plain values; 9.1 each value as `{value}`; after 13.2 (16.2, 17.1) each row
 * as `{data: {…}, links}` with field keys and the schema name as arrays of parts.
 */
export function rowsResponse(result: RowsResult, version: number) {
  const wrapped = version >= 9.1;
  const parts = version > 13.2;
  const key = result.fields.find((f) => f.isKey);
  const wrap = (row: Record<string, LabkeyValue>) =>
    Object.fromEntries(Object.entries(row).map(([name, value]) => [name, { value }]));
  const rows = labkeyRows(result.fields, result.rows);
  return {
    schemaName: parts ? [result.schemaName] : result.schemaName,
    queryName: result.queryName,
    formatVersion: wrapped ? version : 8.3,
    metaData: {
      root: "rows",
      totalProperty: "rowCount",
      ...(key ? { id: key.name } : {}),
      fields: result.fields.map((f) => ({
        ...fieldMetadata(f),
        ...(parts ? { fieldKey: [f.name] } : {}),
      })),
    },
    columnModel: result.fields.map(columnModel),
    rows: parts
      ? rows.map((row) => ({ data: wrap(row), links: null }))
      : wrapped
      ? rows.map(wrap)
      : rows,
    rowCount: result.rowCount,
  };
}

const EXCEPTION_CLASS: Record<number, string> = {
  400: "org.labkey.api.action.ApiUsageException",
  401: "org.labkey.api.view.UnauthorizedException",
  403: "org.labkey.api.view.UnauthorizedException",
  404: "org.labkey.api.view.NotFoundException",
  409: "org.labkey.api.action.ApiUsageException",
  413: "org.labkey.api.action.ApiUsageException",
  429: "org.labkey.api.action.ApiUsageException",
};

/** LabKey's error body: `exception`, `exceptionClass`, per-field `errors`, `success: false`. */
export function errorBody(status: number, message: string, details?: unknown) {
  const rowErrors = (details as { errors?: RowError[] } | undefined)?.errors;
  return {
    exception: message,
    exceptionClass: EXCEPTION_CLASS[status] ?? "java.lang.RuntimeException",
    success: false,
    ...(Array.isArray(rowErrors)
      ? {
        errors: rowErrors.map((e) => ({
          exception: e.message,
          msg: e.message,
          message: e.message,
          field: e.column ?? null,
          id: e.column ?? null,
          rowNumber: e.row,
        })),
      }
      : {}),
  };
}

/** The status and body for any error thrown while answering a LabKey call. */
export function errorResponse(
  error: unknown,
): { status: number; body: ReturnType<typeof errorBody> } {
  if (error instanceof LabgateError) {
    return { status: error.status, body: errorBody(error.status, error.message, error.details) };
  }
  if (isDatabaseUnavailable(error)) {
    return { status: 503, body: errorBody(503, DATABASE_UNAVAILABLE) };
  }
  const status = (error as { status?: number })?.status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    const message = status === 413
      ? "The request body is too large"
      : (error as Error).message || "Bad request";
    return { status, body: errorBody(status, message) };
  }
  return {
    status: 500,
    body: errorBody(500, "Something went wrong on the server; it has been logged"),
  };
}
