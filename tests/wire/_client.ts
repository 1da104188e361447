/**
 * A raw protocol client for tests: sends exactly the messages a test
 * builds and returns every message the door answers, so pipelines, errors
 * and odd packets can be checked byte for byte.
 */
import { ScramClientExchange } from "../../src/security/scram.ts";
import { decodeText, encodeText, Reader } from "../../wire/protocol/bytes.ts";
import { ErrorField } from "../../wire/protocol/errors.ts";
import { MessageBuffer } from "../../wire/protocol/message_buffer.ts";
import { AuthCode } from "../../wire/protocol/message_codes.ts";
import {
  decodeFields,
  passwordMessage,
  readDataRow,
  saslInitialResponse,
  startupMessage,
} from "../../wire/protocol/messages.ts";

export interface Message {
  /** The type letter, e.g. "Z". */
  type: string;
  bytes: Uint8Array;
}

/** What a raw client logs in with; `nonce` and `saslUser` let tests shape the SCRAM exchange. */
export interface RawLogin {
  user: string;
  password: string;
  database: string;
  params?: Record<string, string>;
  nonce?: string;
  saslUser?: string;
}

export class RawClient implements AsyncDisposable {
  readonly conn: Deno.Conn;
  readonly #buffer = new MessageBuffer({ maxLength: 0x7fffffff });
  readonly parameters = new Map<string, string>();
  pid = 0;
  secret = 0;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  static async open(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Connects and logs in with SCRAM; resolves at the first ReadyForQuery. */
  static async connect(
    port: number,
    login: RawLogin,
  ): Promise<RawClient> {
    const client = await RawClient.open(port);
    await client.login(login);
    return client;
  }

  async login(
    login: RawLogin,
  ): Promise<void> {
    this.send(startupMessage({ user: login.user, database: login.database, ...login.params }));
    const scram = new ScramClientExchange(login.password, login.nonce);
    for (;;) {
      const message = await this.next();
      const r = new Reader(message.bytes, 5);
      if (message.type === "R") {
        const code = r.i32();
        if (code === AuthCode.CleartextPassword) {
          this.send(passwordMessage(login.password)); // user apikey or token: the secret
        } else if (code === AuthCode.SASL) {
          this.send(saslInitialResponse("SCRAM-SHA-256", scram.clientFirst(login.saslUser ?? "*")));
        } else if (code === AuthCode.SASLContinue) {
          this.send(passwordMessage(encodeText(await scram.clientFinal(decodeText(r.rest())))));
        } else if (code === AuthCode.SASLFinal) {
          if (!scram.verifyServerFinal(decodeText(r.rest()))) {
            throw new Error("Server proof is wrong");
          }
        }
      } else if (message.type === "S") {
        this.parameters.set(r.cstr(), r.cstr());
      } else if (message.type === "K") {
        this.pid = r.i32();
        this.secret = r.i32();
      } else if (message.type === "E") {
        throw new Error(`${errorOf(message).code}: ${errorOf(message).message}`);
      } else if (message.type === "Z") {
        return;
      }
    }
  }

  send(...messages: Uint8Array[]): void {
    void this.write(...messages);
  }

  async write(...messages: Uint8Array[]): Promise<void> {
    for (const message of messages) {
      for (let at = 0; at < message.length;) at += await this.conn.write(message.subarray(at));
    }
  }

  /** The next message, or throws when the connection ends first. */
  async next(timeoutMs = 10_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const bytes = this.#buffer.next();
      if (bytes) return { type: String.fromCharCode(bytes[0]), bytes };
      const chunk = new Uint8Array(65536);
      const n = await Promise.race([
        this.conn.read(chunk),
        new Promise<"timeout">((resolve) =>
          setTimeout(() => resolve("timeout"), deadline - Date.now())
        ),
      ]);
      if (n === "timeout") throw new Error("No message from the server in time");
      if (n === null) throw new Error("Connection closed by the server");
      this.#buffer.push(chunk.slice(0, n));
    }
  }

  /** Messages up to and including the first of `type` (default ReadyForQuery). */
  async until(type = "Z", timeoutMs?: number): Promise<Message[]> {
    const out: Message[] = [];
    for (;;) {
      const message = await this.next(timeoutMs);
      out.push(message);
      if (message.type === type) return out;
    }
  }

  /** True when the server closes the connection (after whatever it sent). */
  async closedByServer(timeoutMs = 10_000): Promise<Message[]> {
    const seen: Message[] = [];
    try {
      for (;;) seen.push(await this.next(timeoutMs));
    } catch (error) {
      if ((error as Error).message === "No message from the server in time") throw error;
      return seen;
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** The type letters of `messages`, e.g. "12DCZ". */
export function types(messages: Message[]): string {
  return messages.map((m) => m.type).join("");
}

export function errorOf(
  message: Message,
): { code: string; message: string; position?: string; severity: string } {
  const fields = decodeFields(message.bytes);
  const field = (code: number) => fields.find(([c]) => c === code)?.[1];
  return {
    code: field(ErrorField.Code) ?? "",
    message: field(ErrorField.Message) ?? "",
    position: field(ErrorField.Position),
    severity: field(ErrorField.SeverityPlain) ?? "",
  };
}

/** An ErrorResponse's DETAIL field, if it has one. */
export function detailOf(message: Message): string | undefined {
  return decodeFields(message.bytes).find(([code]) => code === ErrorField.Detail)?.[1];
}

export function rowsOf(messages: Message[]): (string | null)[][] {
  return messages.filter((m) => m.type === "D").map((m) => readDataRow(m.bytes));
}

export function statusOf(messages: Message[]): string {
  const z = messages.findLast((m) => m.type === "Z");
  return z ? String.fromCharCode(z.bytes[5]) : "";
}

export function commandTags(messages: Message[]): string[] {
  return messages.filter((m) => m.type === "C").map((m) => new Reader(m.bytes, 5).cstr());
}

export function parameterStatus(messages: Message[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const m of messages.filter((m) => m.type === "S")) {
    const r = new Reader(m.bytes, 5);
    map.set(r.cstr(), r.cstr());
  }
  return map;
}

/** Every byte the client received, for "no physical name leaks" checks. */
export function text(messages: Message[]): string {
  return messages.map((m) => new TextDecoder().decode(m.bytes)).join("");
}
