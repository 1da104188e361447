/**
 * Opening a raw connection to PostgreSQL for the door's backend pool: where
 * and as whom (a postgres:// URL), the socket, the startup message and the
 * client side of authentication (SCRAM-SHA-256, MD5, cleartext, trust), and
 * the CancelRequest sent on a connection of its own.
 */
import { createHash } from "node:crypto";
import { ScramClientExchange } from "../../src/security/scram.ts";
import { concat, decodeText, encodeText, Reader } from "../protocol/bytes.ts";
import { ErrorField, SqlState, WireError } from "../protocol/errors.ts";
import { MessageBuffer } from "../protocol/message_buffer.ts";
import { AuthCode, BackendCode } from "../protocol/message_codes.ts";
import {
  cancelRequest,
  decodeFields,
  type ErrorFields,
  fieldOf,
  passwordMessage,
  saslInitialResponse,
  startupMessage,
} from "../protocol/messages.ts";
import { ConnTransport } from "../protocol/transport.ts";

/** Where and as whom the door connects, from a postgres:// URL. */
export interface PgTarget {
  /** TCP host, or a Unix socket path. */
  host: string;
  port: number;
  unixPath?: string;
  user: string;
  password: string;
  database: string;
}

export function parseTarget(url: string): PgTarget {
  const u = new URL(url);
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new Error(`DATABASE_URL must start with postgres://, got "${u.protocol}"`);
  }
  const sslmode = u.searchParams.get("sslmode");
  if (sslmode && !["disable", "allow", "prefer"].includes(sslmode)) {
    throw new Error(
      `The SQL door cannot use sslmode=${sslmode} for its backend connections yet: ` +
        "connect labgate to PostgreSQL over a local network or Unix socket",
    );
  }
  const port = Number(u.port || u.searchParams.get("port") || 5432);
  const socketDir = u.searchParams.get("host") ?? "";
  const user = decodeURIComponent(u.username) || "postgres";
  return {
    host: u.hostname || "localhost",
    port,
    unixPath: socketDir.startsWith("/") ? `${socketDir}/.s.PGSQL.${port}` : undefined,
    user,
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)) || user,
  };
}

/** A connection that has signed in and sent its first ReadyForQuery. */
export interface PgConnection {
  transport: ConnTransport;
  /** Holds what arrived after that ReadyForQuery: the read loop goes on from here. */
  buffer: MessageBuffer;
  /** BackendKeyData, for cancel requests. */
  pid: number;
  secret: number;
  /** ParameterStatus values from startup. */
  parameters: Map<string, string>;
}

async function dial(target: PgTarget): Promise<Deno.Conn> {
  if (target.unixPath) return await Deno.connect({ transport: "unix", path: target.unixPath });
  const conn = await Deno.connect({ hostname: target.host, port: target.port });
  conn.setNoDelay(true);
  return conn;
}

function md5Hex(text: string | Uint8Array): string {
  return createHash("md5").update(text).digest("hex");
}

function backendError(fields: ErrorFields): WireError {
  return new WireError(
    SqlState.ConnectionFailure,
    `Could not open a database session: ${fieldOf(fields, ErrorField.Message) ?? "unknown error"}`,
    { severity: "FATAL", hint: "Ask a labgate administrator to check the database connection" },
  );
}

/** Connects and signs in with the URL's credentials; a FATAL WireError says why not. */
export async function connect(target: PgTarget): Promise<PgConnection> {
  let transport: ConnTransport;
  try {
    transport = new ConnTransport(await dial(target));
  } catch (error) {
    throw new WireError(
      SqlState.ConnectionFailure,
      `Could not connect to the database server: ${(error as Error).message}`,
      { severity: "FATAL", hint: "Ask a labgate administrator to check the database server" },
    );
  }
  const connection: PgConnection = {
    transport,
    buffer: new MessageBuffer({ maxLength: 0x7fffffff }),
    pid: 0,
    secret: 0,
    parameters: new Map(),
  };
  try {
    await startUp(connection, target);
  } catch (error) {
    transport.close();
    throw error;
  }
  return connection;
}

/** Startup and authentication, until the first ReadyForQuery. */
async function startUp(connection: PgConnection, target: PgTarget): Promise<void> {
  const { transport } = connection;
  transport.write(startupMessage({
    user: target.user,
    database: target.database,
    client_encoding: "UTF8",
  }));
  let scram: ScramClientExchange | null = null;
  for (;;) {
    const message = await next(connection);
    const r = new Reader(message, 5);
    switch (message[0]) {
      case BackendCode.Authentication: {
        const code = r.i32();
        if (code === AuthCode.CleartextPassword) {
          transport.write(passwordMessage(target.password));
        } else if (code === AuthCode.MD5Password) {
          const salt = r.bytes(4);
          const inner = md5Hex(target.password + target.user);
          transport.write(passwordMessage(
            "md5" + md5Hex(concat([encodeText(inner), salt])),
          ));
        } else if (code === AuthCode.SASL) {
          scram = new ScramClientExchange(target.password);
          transport.write(saslInitialResponse("SCRAM-SHA-256", scram.clientFirst()));
        } else if (code === AuthCode.SASLContinue && scram) {
          const final = await scram.clientFinal(decodeText(r.rest()));
          transport.write(passwordMessage(encodeText(final)));
        } else if (code === AuthCode.SASLFinal && scram) {
          if (!scram.verifyServerFinal(decodeText(r.rest()))) {
            throw new WireError(
              SqlState.ConnectionFailure,
              "The database server failed SCRAM authentication: check DATABASE_URL",
              { severity: "FATAL" },
            );
          }
        } else if (code !== AuthCode.Ok) {
          throw new WireError(
            SqlState.ConnectionFailure,
            `The database server asks for authentication method ${code}, which labgate does not support: use scram-sha-256, md5, password or trust`,
            { severity: "FATAL" },
          );
        }
        break;
      }
      case BackendCode.ParameterStatus:
        connection.parameters.set(r.cstr(), r.cstr());
        break;
      case BackendCode.BackendKeyData:
        connection.pid = r.i32();
        connection.secret = r.i32();
        break;
      case BackendCode.ErrorResponse:
        throw backendError(decodeFields(message));
      case BackendCode.ReadyForQuery:
        return;
    }
  }
}

/** The next whole message, during startup (before the read loop runs). */
async function next({ buffer, transport }: PgConnection): Promise<Uint8Array> {
  for (;;) {
    const message = buffer.next();
    if (message) return message;
    const chunk = await transport.read();
    if (!chunk) {
      throw new WireError(
        SqlState.ConnectionFailure,
        "The database server closed the connection",
        {
          severity: "FATAL",
        },
      );
    }
    buffer.push(chunk);
  }
}

/**
 * Sends a CancelRequest for the statement running on backend `pid` on a new
 * connection; a failure is ignored (the statement finishes on its own or
 * hits the statement timeout).
 */
export async function sendCancelRequest(
  target: PgTarget,
  backend: { pid: number; secret: number },
): Promise<void> {
  try {
    const transport = new ConnTransport(await dial(target));
    transport.write(cancelRequest(backend.pid, backend.secret));
    await transport.read();
    transport.close();
  } catch {
    // the statement finishes on its own or hits the statement timeout
  }
}
