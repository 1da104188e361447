/**
 * Domain errors with the HTTP status they mean. Routes render them once
 * (JSON for APIs, a page for forms, XML for remote login); the SQL door maps
 * them to SQLSTATEs.
 */
export class LabgateError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 503 | 507,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "LabgateError";
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new LabgateError(400, message, details);
export const unauthorized = (message: string) => new LabgateError(401, message);
export const forbidden = (message: string) => new LabgateError(403, message);
export const notFound = (message: string) => new LabgateError(404, message);
export const conflict = (message: string, details?: unknown) =>
  new LabgateError(409, message, details);
export const tooManyRequests = (message: string) => new LabgateError(429, message);

/** What every door says while the database server cannot be reached. */
export const DATABASE_UNAVAILABLE =
  "The database is unavailable (restarting or unreachable): try again shortly";

/**
 * Whether `error` means the database server is gone rather than that a
 * statement failed: a refused or lost connection, or the server shutting
 * down, crashing or still starting (SQLSTATE classes 08 and 57P). Such an
 * error is the operator's to fix and passes by itself, so doors answer it as
 * 503 (SQL door: 08006) instead of an internal error.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === "string" && /^(08|57P0[123]$|ECONN|EPIPE$|ETIMEDOUT$)/.test(code)) {
      return true;
    }
    if (typeof name === "string" && /^(ConnectionRefused|ConnectionReset|BrokenPipe)$/.test(name)) {
      return true;
    }
    // pg's own words for a connection lost under a query or before one.
    if (
      typeof message === "string" &&
      /^(Connection terminated|Client has encountered a connection error)/.test(message)
    ) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * What the database refused that the client can act on, as an HTTP error:
 * a full disk (53100: 507 Insufficient Storage) or a statement stopped at
 * its time limit (57014: 503), each with the database's message; else null.
 */
export function databaseRefusal(error: unknown): LabgateError | null {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: string };
  if (code === "53100") {
    return new LabgateError(507, message || "No space left on the database's disk");
  }
  if (code === "57014") {
    return new LabgateError(503, `The database stopped this request's statement: ${message}`);
  }
  return null;
}
