/**
 * Building and reading the protocol messages the door itself deals with.
 * Result rows are never decoded here: they are forwarded as received.
 */
import { decodeText, encodeText, ProtocolError, Reader, writeInt32, Writer } from "./bytes.ts";
import { ErrorField, type WireError } from "./errors.ts";
import { AuthCode, BackendCode, FrontendCode, StartupCode } from "./message_codes.ts";

const fixed = (code: number) => new Uint8Array([code, 0, 0, 0, 4]);

export const PARSE_COMPLETE = fixed(BackendCode.ParseComplete);
export const CLOSE_COMPLETE = fixed(BackendCode.CloseComplete);
export const SYNC = fixed(FrontendCode.Sync);

// ---- backend messages the door sends ----

export function authentication(code: number, data?: Uint8Array | string): Uint8Array {
  const w = new Writer().begin(BackendCode.Authentication).i32(code);
  if (typeof data === "string") w.bytes(encodeText(data));
  else if (data) w.bytes(data);
  return w.end().take();
}

/** AuthenticationSASL offering SCRAM-SHA-256 (no channel binding). */
export function authenticationSasl(): Uint8Array {
  return new Writer().begin(BackendCode.Authentication).i32(AuthCode.SASL)
    .str("SCRAM-SHA-256").u8(0).end().take();
}

export function parameterStatus(name: string, value: string): Uint8Array {
  return new Writer().begin(BackendCode.ParameterStatus).str(name).str(value).end().take();
}

export function backendKeyData(pid: number, secret: number): Uint8Array {
  return new Writer().begin(BackendCode.BackendKeyData).i32(pid).i32(secret).end().take();
}

export function commandComplete(tag: string): Uint8Array {
  return new Writer().begin(BackendCode.CommandComplete).str(tag).end().take();
}

export function readyForQuery(status: number): Uint8Array {
  return new Uint8Array([BackendCode.ReadyForQuery, 0, 0, 0, 5, status]);
}

export function negotiateProtocolVersion(minor: number, unknown: string[]): Uint8Array {
  const w = new Writer().begin(BackendCode.NegotiateProtocolVersion)
    .i32(StartupCode.Protocol3 | minor).i32(unknown.length);
  for (const name of unknown) w.str(name);
  return w.end().take();
}

/** Fields of an ErrorResponse or NoticeResponse, in wire order. */
export type ErrorFields = [code: number, value: string][];

function errorFields(error: WireError): ErrorFields {
  const fields: ErrorFields = [
    [ErrorField.Severity, error.severity],
    [ErrorField.SeverityPlain, error.severity],
    [ErrorField.Code, error.code],
    [ErrorField.Message, error.message],
  ];
  if (error.detail) fields.push([ErrorField.Detail, error.detail]);
  if (error.hint) fields.push([ErrorField.Hint, error.hint]);
  if (error.position) fields.push([ErrorField.Position, String(error.position)]);
  return fields;
}

export function encodeFields(type: number, fields: ErrorFields): Uint8Array {
  const w = new Writer().begin(type);
  for (const [code, value] of fields) w.u8(code).str(value);
  return w.u8(0).end().take();
}

export function errorResponse(error: WireError): Uint8Array {
  return encodeFields(BackendCode.ErrorResponse, errorFields(error));
}

/** The fields of an ErrorResponse or NoticeResponse message (type byte included). */
export function decodeFields(message: Uint8Array): ErrorFields {
  const r = new Reader(message, 5);
  const fields: ErrorFields = [];
  for (;;) {
    const code = r.u8();
    if (code === 0) return fields;
    fields.push([code, r.cstr()]);
  }
}

export function fieldOf(fields: ErrorFields, code: number): string | undefined {
  return fields.find(([c]) => c === code)?.[1];
}

// ---- frontend messages the door sends to a backend ----

export function query(text: string): Uint8Array {
  return new Writer().begin(FrontendCode.Query).str(text).end().take();
}

/** Parse with parameter types given as their raw wire bytes (count + OIDs). */
export function parse(name: string, text: string, paramTypes: Uint8Array): Uint8Array {
  return new Writer().begin(FrontendCode.Parse).str(name).str(text).bytes(paramTypes).end().take();
}

/** Bind with text-format parameters (null for SQL NULL) and text results. */
export function bindText(portal: string, statement: string, values: (string | null)[]): Uint8Array {
  const w = new Writer().begin(FrontendCode.Bind).str(portal).str(statement).i16(0)
    .i16(values.length);
  for (const value of values) {
    if (value === null) w.i32(-1);
    else {
      const bytes = encodeText(value);
      w.i32(bytes.length).bytes(bytes);
    }
  }
  return w.i16(0).end().take();
}

export function execute(portal: string, maxRows = 0): Uint8Array {
  return new Writer().begin(FrontendCode.Execute).str(portal).i32(maxRows).end().take();
}

/** Close or Describe (`code`) of a statement ('S') or portal ('P'). */
export function target(code: number, kind: "S" | "P", name: string): Uint8Array {
  return new Writer().begin(code).u8(kind.charCodeAt(0)).str(name).end().take();
}

export function startupMessage(params: Record<string, string>): Uint8Array {
  const w = new Writer().begin().i32(StartupCode.Protocol3);
  for (const [name, value] of Object.entries(params)) w.str(name).str(value);
  return w.u8(0).end().take();
}

export function cancelRequest(pid: number, secret: number): Uint8Array {
  return new Writer().begin().i32(StartupCode.CancelRequest).i32(pid).i32(secret).end().take();
}

export function passwordMessage(data: Uint8Array | string): Uint8Array {
  const w = new Writer().begin(FrontendCode.Password);
  if (typeof data === "string") w.str(data);
  else w.bytes(data);
  return w.end().take();
}

export function saslInitialResponse(mechanism: string, data: string): Uint8Array {
  const bytes = encodeText(data);
  return new Writer().begin(FrontendCode.Password).str(mechanism).i32(bytes.length).bytes(bytes)
    .end().take();
}

// ---- reading frontend messages ----

/** A StartupMessage's parameters (the packet includes length and code). */
export function readStartupParams(packet: Uint8Array): Map<string, string> {
  const r = new Reader(packet, 8);
  const params = new Map<string, string>();
  for (;;) {
    const name = r.cstr();
    if (name === "") break;
    params.set(name, r.cstr());
  }
  if (r.remaining !== 0) throw new ProtocolError("Startup packet has bytes after its parameters");
  return params;
}

interface ParseMessage {
  name: string;
  text: string;
  /** Count and OIDs, as sent: forwarded unchanged and used in cache keys. */
  paramTypes: Uint8Array;
}

export function readParse(message: Uint8Array): ParseMessage {
  const r = new Reader(message, 5);
  const name = r.cstr();
  const text = r.cstr();
  const paramTypes = r.rest();
  const count = paramTypes.length >= 2 ? (paramTypes[0] << 8) | paramTypes[1] : -1;
  if (count < 0 || paramTypes.length !== 2 + 4 * count) {
    throw new ProtocolError("Parse message has a malformed parameter type list");
  }
  return { name, text, paramTypes };
}

interface BindMessage {
  portal: Uint8Array;
  statement: string;
  /** Formats, values and result formats, forwarded unchanged. */
  rest: Uint8Array;
}

export function readBind(message: Uint8Array): BindMessage {
  const r = new Reader(message, 5);
  const portal = r.cbytes();
  const statement = decodeText(r.cbytes());
  return { portal, statement, rest: r.rest() };
}

/** A Bind naming `statement` instead, everything else as the client sent it. */
export function rebind(bind: BindMessage, statement: string): Uint8Array {
  const name = names.get(statement) ?? encodeName(statement);
  const length = 4 + bind.portal.length + 1 + name.length + 1 + bind.rest.length;
  const out = new Uint8Array(1 + length);
  out[0] = FrontendCode.Bind;
  writeInt32(out, 1, length);
  let at = 5;
  out.set(bind.portal, at);
  at += bind.portal.length + 1;
  out.set(name, at);
  at += name.length + 1;
  out.set(bind.rest, at);
  return out;
}

/** Encoded backend statement names (`lg_p<n>`), reused by every Bind that names them. */
const names = new Map<string, Uint8Array>();
const MAX_NAMES = 10_000;

function encodeName(name: string): Uint8Array {
  const bytes = encodeText(name);
  if (names.size >= MAX_NAMES) names.clear();
  names.set(name, bytes);
  return bytes;
}

/** Describe or Close: the kind ('S' or 'P') and the name. */
export function readTarget(message: Uint8Array): { kind: number; name: string } {
  const r = new Reader(message, 5);
  const kind = r.u8();
  if (kind !== 0x53 && kind !== 0x50) {
    throw new ProtocolError(
      `Invalid ${String.fromCharCode(message[0])} target "${String.fromCharCode(kind)}"`,
    );
  }
  const name = r.cstr();
  r.end();
  return { kind, name };
}

export function readExecute(message: Uint8Array): { portal: string; maxRows: number } {
  const r = new Reader(message, 5);
  const portal = r.cstr();
  const maxRows = r.i32();
  r.end();
  return { portal, maxRows };
}

export function readQuery(message: Uint8Array): string {
  const r = new Reader(message, 5);
  const text = r.cstr();
  r.end();
  return text;
}

/** The text values of a DataRow (the door reads only its own small queries' rows). */
export function readDataRow(message: Uint8Array): (string | null)[] {
  const r = new Reader(message, 5);
  const values: (string | null)[] = [];
  for (let n = r.i16(); n > 0; n--) {
    const length = r.i32();
    values.push(length < 0 ? null : decodeText(r.bytes(length)));
  }
  return values;
}
