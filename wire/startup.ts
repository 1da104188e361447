/**
 * The startup phase, before any typed message: SSLRequest (upgrade to TLS
 * in place, or 'N' when no certificate is configured), GSSENCRequest
 * (always 'N'), CancelRequest, and the protocol 3.0 StartupMessage.
 */
import type tls from "node:tls";
import { ProtocolError, readInt32 } from "./protocol/bytes.ts";
import { fatal, SqlState, WireError } from "./protocol/errors.ts";
import { MessageBuffer } from "./protocol/message_buffer.ts";
import { MAX_STARTUP_LENGTH, StartupCode } from "./protocol/message_codes.ts";
import { errorResponse, readStartupParams } from "./protocol/messages.ts";
import { ConnTransport, TlsTransport, type Transport } from "./protocol/transport.ts";

export type Negotiated =
  | {
    kind: "startup";
    transport: Transport;
    params: Map<string, string>;
    /** Protocol minor version asked for (3.x). */
    minor: number;
    /** Holds anything the client sent after the StartupMessage. */
    buffer: MessageBuffer;
  }
  | { kind: "cancel"; pid: number; secret: number };

const NO = new Uint8Array([0x4e]); // N
const YES = new Uint8Array([0x53]); // S

/**
 * Reads startup packets until a StartupMessage or CancelRequest arrives.
 * Returns null when the client goes away or was answered with a FATAL error.
 */
export async function negotiate(
  conn: Deno.Conn,
  tlsContext: () => Promise<tls.SecureContext | null>,
): Promise<Negotiated | null> {
  const plain = new ConnTransport(conn);
  let transport: Transport = plain;
  const buffer = new MessageBuffer({ maxLength: MAX_STARTUP_LENGTH });
  try {
    for (;;) {
      let packet = buffer.nextStartup();
      while (!packet) {
        const chunk = await transport.read();
        if (!chunk) {
          transport.close();
          return null;
        }
        buffer.push(chunk);
        packet = buffer.nextStartup();
      }
      const code = readInt32(packet, 4);
      if (code === StartupCode.SSLRequest || code === StartupCode.GSSENCRequest) {
        // Bytes sent before the answer would skip encryption (CVE-2021-23214): refuse them.
        if (buffer.buffered > 0) {
          throw new ProtocolError("Received unencrypted data after an encryption request");
        }
        if (transport.tls) {
          throw new ProtocolError("Received an SSL request on an encrypted connection");
        }
        const context = code === StartupCode.SSLRequest ? await tlsContext() : null;
        if (!context) {
          transport.write(NO);
          continue;
        }
        plain.write(YES);
        await plain.drained();
        try {
          transport = await TlsTransport.accept(conn, context);
        } catch {
          return null;
        }
        continue;
      }
      if (code === StartupCode.CancelRequest) {
        if (packet.length !== 16) throw new ProtocolError("Invalid cancel request length");
        transport.close();
        return { kind: "cancel", pid: readInt32(packet, 8), secret: readInt32(packet, 12) };
      }
      const major = code >>> 16;
      const minor = code & 0xffff;
      if (major !== 3) {
        throw fatal(
          SqlState.FeatureNotSupported,
          `Unsupported frontend protocol ${major}.${minor}: the SQL door speaks protocol 3.0`,
        );
      }
      return { kind: "startup", transport, params: readStartupParams(packet), minor, buffer };
    }
  } catch (error) {
    const reply = error instanceof WireError
      ? error
      : fatal(SqlState.ProtocolViolation, (error as Error).message);
    transport.write(errorResponse(reply));
    transport.end();
    return null;
  }
}
