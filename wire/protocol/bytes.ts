/**
 * Byte building and reading for protocol messages. The Writer chains like
 * postgres.js's `bytes.js`: start a message, append fields, and `end()`
 * fills in the length; several messages can share one Writer.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A message that does not follow the protocol (bad length, missing terminator, bad UTF-8). */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

export class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #pos = 0;
  #start = -1;

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + n));
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Starts a message with a type byte, or an untyped startup packet when `type` is absent. */
  begin(type?: number): this {
    if (type !== undefined) this.u8(type);
    this.#start = this.#pos;
    return this.i32(0);
  }

  u8(n: number): this {
    this.#room(1);
    this.#buf[this.#pos++] = n;
    return this;
  }

  i16(n: number): this {
    this.#room(2);
    this.#view.setInt16(this.#pos, n);
    this.#pos += 2;
    return this;
  }

  i32(n: number): this {
    this.#room(4);
    this.#view.setInt32(this.#pos, n);
    this.#pos += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#room(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
    return this;
  }

  /** A NUL-terminated UTF-8 string. */
  str(s: string): this {
    // ASCII (names, most SQL) goes straight in: TextEncoder would allocate an array per string.
    this.#room(s.length + 1);
    const start = this.#pos;
    for (let i = 0; i < s.length; i++) {
      const code = s.charCodeAt(i);
      if (code >= 0x80) {
        this.#pos = start;
        return this.bytes(encoder.encode(s)).u8(0);
      }
      this.#buf[this.#pos++] = code;
    }
    this.#buf[this.#pos++] = 0;
    return this;
  }

  /** Fills in the length of the message started by `begin()`. */
  end(): this {
    this.#view.setInt32(this.#start, this.#pos - this.#start);
    this.#start = -1;
    return this;
  }

  /** Everything written so far, as a new array; the Writer starts over. */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#pos);
    this.#pos = 0;
    return out;
  }
}

/** Reads the fields of one message body in order. */
export class Reader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos: number;

  constructor(buf: Uint8Array, offset = 0) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#pos = offset;
  }

  get offset(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length) {
      throw new ProtocolError("Message is shorter than its fields");
    }
  }

  u8(): number {
    this.#need(1);
    return this.#buf[this.#pos++];
  }

  i16(): number {
    this.#need(2);
    const n = this.#view.getInt16(this.#pos);
    this.#pos += 2;
    return n;
  }

  i32(): number {
    this.#need(4);
    const n = this.#view.getInt32(this.#pos);
    this.#pos += 4;
    return n;
  }

  bytes(n: number): Uint8Array {
    if (n < 0) throw new ProtocolError("Negative length in message");
    this.#need(n);
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /** The raw bytes of a NUL-terminated string, without the NUL. */
  cbytes(): Uint8Array {
    const end = this.#buf.indexOf(0, this.#pos);
    if (end < 0) throw new ProtocolError("String in message is not terminated");
    const out = this.#buf.subarray(this.#pos, end);
    this.#pos = end + 1;
    return out;
  }

  /** A NUL-terminated UTF-8 string. */
  cstr(): string {
    return decodeText(this.cbytes());
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (this.#pos !== this.#buf.length) {
      throw new ProtocolError("Message is longer than its fields");
    }
  }

  rest(): Uint8Array {
    const out = this.#buf.subarray(this.#pos);
    this.#pos = this.#buf.length;
    return out;
  }
}

/** UTF-8 text from the client; anything else is a protocol error, as in PostgreSQL. */
export function decodeText(bytes: Uint8Array): string {
  if (bytes.length <= 256 && isAscii(bytes)) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ProtocolError("Invalid byte sequence for encoding UTF8");
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x80) return false;
  return true;
}

export function encodeText(text: string): Uint8Array {
  return encoder.encode(text);
}

export function writeInt32(buf: Uint8Array, at: number, n: number): void {
  buf[at] = n >>> 24;
  buf[at + 1] = n >>> 16;
  buf[at + 2] = n >>> 8;
  buf[at + 3] = n;
}

/** Joins byte arrays; returns the only one untouched. */
export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function readInt32(buf: Uint8Array, at: number): number {
  return (buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3];
}
