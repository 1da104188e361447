/**
 * List column types: the SQL type behind each, how a value typed by a user
 * (form, CSV cell or JSON) is checked and turned into the text PostgreSQL
 * parses, and how the database's text comes back out as JSON — with nothing
 * lost on the way: a Decimal is the string PostgreSQL prints (`"12.50"`
 * keeps its scale and every digit, which a JSON number would not once
 * parsed), dates are `YYYY-MM-DD`, date-times ISO 8601 (`T`), timestamps
 * ISO 8601 with their offset (`Z`: labgate's sessions run in UTC).
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** A checked value, as text for the database, or the reason it was refused. */
type Parsed = { ok: true; text: string | null } | { ok: false; error: string };

interface ColumnType {
  /** The PostgreSQL type of the physical column. */
  sql: string;
  /** Can be a list's key. */
  keyable: boolean;
  /** Checks a non-empty value; returns the database text or an error. */
  parse(value: unknown): string | Error;
  /** Turns the database's text form back into a JSON value. */
  output(text: string): JsonValue;
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?$/;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i;
/** How PostgreSQL prints a timestamptz (DateStyle ISO): `2024-02-29 06:30:00.5+00`. */
const PRINTED_TIMESTAMP =
  /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRUE = new Set(["true", "t", "yes", "y", "1", "on"]);
const FALSE = new Set(["false", "f", "no", "n", "0", "off"]);

function validDate(y: string, m: string, d: string): boolean {
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  return date.getUTCFullYear() === Number(y) && date.getUTCMonth() === Number(m) - 1 &&
    date.getUTCDate() === Number(d);
}

function validTime(h?: string, mi?: string, s?: string): boolean {
  return Number(h) < 24 && Number(mi) < 60 && (s === undefined || Number(s) < 60);
}

/** A printed timestamptz in ISO 8601: `T` between date and time, `Z` or `±HH:MM`. */
function isoTimestamp(text: string): string {
  const m = PRINTED_TIMESTAMP.exec(text);
  if (!m) return text;
  const [, date, time, sign, hours, minutes = "00", seconds] = m;
  const zone = hours === "00" && minutes === "00" && !seconds
    ? "Z"
    : `${sign}${hours}:${minutes}${seconds ? `:${seconds}` : ""}`;
  return `${date}T${time}${zone}`;
}

function scalarText(value: unknown): string | Error {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return String(value);
  return new Error(`expected a single value, got ${JSON.stringify(value)}`);
}

function integerType(sqlType: string, min: bigint, max: bigint, label: string): ColumnType {
  return {
    sql: sqlType,
    keyable: true,
    parse(value) {
      const text = scalarText(value);
      if (text instanceof Error) return text;
      if (!INTEGER.test(text)) return new Error(`"${text}" is not a whole number`);
      const n = BigInt(text);
      if (n < min || n > max) return new Error(`${text} does not fit in ${label}`);
      return n.toString();
    },
    output(text) {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    },
  };
}

export const COLUMN_TYPES = {
  Text: {
    sql: "text",
    keyable: true,
    parse(value) {
      if (typeof value === "object") return new Error("expected text");
      const text = String(value);
      return text.includes("\u0000") ? new Error("text may not contain NUL characters") : text;
    },
    output: (text) => text,
  },
  Integer: integerType("integer", -(2n ** 31n), 2n ** 31n - 1n, "an Integer (32-bit)"),
  BigInteger: integerType("bigint", -(2n ** 63n), 2n ** 63n - 1n, "a BigInteger (64-bit)"),
  Decimal: {
    sql: "numeric",
    keyable: false,
    parse(value) {
      const text = scalarText(value);
      if (text instanceof Error) return text;
      return DECIMAL.test(text) ? text : new Error(`"${text}" is not a number`);
    },
    output: (text) => text,
  },
  Double: {
    sql: "double precision",
    keyable: false,
    parse(value) {
      const text = scalarText(value);
      if (text instanceof Error) return text;
      return DECIMAL.test(text) ? text : new Error(`"${text}" is not a number`);
    },
    output: (text) => Number.isFinite(Number(text)) ? Number(text) : text,
  },
  Boolean: {
    sql: "boolean",
    keyable: false,
    parse(value) {
      const text = scalarText(value);
      if (text instanceof Error) return text;
      const lower = text.toLowerCase();
      if (TRUE.has(lower)) return "true";
      if (FALSE.has(lower)) return "false";
      return new Error(`"${text}" is not true or false`);
    },
    output: (text) => text === "true" || text === "t",
  },
  Date: {
    sql: "date",
    keyable: false,
    parse(value) {
      const text = scalarText(value);
      if (text instanceof Error) return text;
      const m = DATE.exec(text);
      if (!m || !validDate(m[1], m[2], m[3])) {
        return new Error(`"${text}" is not a date (use YYYY-MM-DD)`);
      }
      return text;
    },
    output: (text) => text,
  },
  DateTime: {
    sql: "timestamp",
    keyable: false,
    parse(value) {
      const text = scalarText(value);
      if (text instanceof Error) return text;
      const m = DATETIME.exec(text);
      if (!m || !validDate(m[1], m[2], m[3]) || !validTime(m[4], m[5], m[6])) {
        return new Error(`"${text}" is not a date and time (use YYYY-MM-DD HH:MM[:SS])`);
      }
      return text.replace("T", " ");
    },
    output: (text) => text.replace(" ", "T"),
  },
  Timestamp: {
    sql: "timestamptz",
    keyable: false,
    parse(value) {
      const text = scalarText(value);
      if (text instanceof Error) return text;
      const m = TIMESTAMP.exec(text);
      if (!m || !validDate(m[1], m[2], m[3]) || !validTime(m[4], m[5], m[6])) {
        return new Error(
          `"${text}" is not a timestamp with time zone (use YYYY-MM-DD HH:MM[:SS]±HH:MM or Z)`,
        );
      }
      return text;
    },
    output: isoTimestamp,
  },
  UUID: {
    sql: "uuid",
    keyable: true,
    parse(value) {
      const text = scalarText(value);
      if (text instanceof Error) return text;
      return UUID.test(text) ? text.toLowerCase() : new Error(`"${text}" is not a UUID`);
    },
    output: (text) => text,
  },
  JSON: {
    sql: "jsonb",
    keyable: false,
    parse(value) {
      if (typeof value !== "string") return JSON.stringify(value);
      try {
        JSON.parse(value);
        return value;
      } catch {
        return new Error("is not valid JSON");
      }
    },
    output: (text) => JSON.parse(text) as JsonValue,
  },
} as const satisfies Record<string, ColumnType>;

export type ColumnTypeName = keyof typeof COLUMN_TYPES;

export function isColumnType(name: string): name is ColumnTypeName {
  return Object.hasOwn(COLUMN_TYPES, name);
}

/** Checks one value for a column; empty strings and null mean "no value". */
export function parseValue(type: ColumnTypeName, value: unknown): Parsed {
  if (value === null || value === undefined || (typeof value === "string" && value.trim() === "")) {
    return { ok: true, text: null };
  }
  const result = COLUMN_TYPES[type].parse(value);
  return result instanceof Error
    ? { ok: false, error: result.message }
    : { ok: true, text: result };
}

export function outputValue(type: ColumnTypeName, text: string | null): JsonValue {
  return text === null ? null : COLUMN_TYPES[type].output(text);
}
