/**
 * Errors the SQL door reports itself, with their SQLSTATE, and the
 * ErrorResponse / NoticeResponse field codes.
 */

/** The SQLSTATEs the door sends on its own account. */
export const SqlState = {
  ProtocolViolation: "08P01",
  ConnectionFailure: "08006",
  FeatureNotSupported: "0A000",
  InvalidParameterValue: "22023",
  IdleInTransactionTimeout: "25P03",
  InvalidSqlStatementName: "26000",
  InvalidAuthorization: "28000",
  InvalidPassword: "28P01",
  InvalidCatalogName: "3D000",
  InsufficientPrivilege: "42501",
  DuplicatePreparedStatement: "42P05",
  TooManyConnections: "53300",
  ProgramLimitExceeded: "54000",
  QueryCanceled: "57014",
  AdminShutdown: "57P01",
  IdleSessionTimeout: "57P05",
  CannotConnectNow: "57P03",
  InternalError: "XX000",
} as const;

/** One-letter field codes of ErrorResponse and NoticeResponse. */
export const ErrorField = {
  Severity: 0x53, // S (localized)
  SeverityPlain: 0x56, // V
  Code: 0x43, // C
  Message: 0x4d, // M
  Detail: 0x44, // D
  Hint: 0x48, // H
  Position: 0x50, // P
  InternalPosition: 0x70, // p
  InternalQuery: 0x71, // q
  Where: 0x57, // W
  Schema: 0x73, // s
  Table: 0x74, // t
  Column: 0x63, // c
  DataType: 0x64, // d
  Constraint: 0x6e, // n
  File: 0x46, // F
  Line: 0x4c, // L
  Routine: 0x52, // R
} as const;

type Severity = "ERROR" | "FATAL";

/** An error the door answers with an ErrorResponse. */
export class WireError extends Error {
  readonly code: string;
  readonly severity: Severity;
  readonly detail?: string;
  readonly hint?: string;
  /** 1-based character position in the client's statement text. */
  readonly position?: number;

  constructor(
    code: string,
    message: string,
    options: { severity?: Severity; detail?: string; hint?: string; position?: number } = {},
  ) {
    super(message);
    this.name = "WireError";
    this.code = code;
    this.severity = options.severity ?? "ERROR";
    this.detail = options.detail;
    this.hint = options.hint;
    this.position = options.position;
  }
}

/** The same error, ending the connection. */
export function fatal(
  code: string,
  message: string,
  options: { detail?: string; hint?: string } = {},
): WireError {
  return new WireError(code, message, { ...options, severity: "FATAL" });
}
