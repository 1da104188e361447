/**
 * Framing: turns the chunks a socket delivers into whole messages. Startup
 * packets have no type byte (length first); every later message is a type
 * byte and a length that counts itself. Complete messages come back as
 * views into the received chunk, so forwarding them copies nothing.
 */
import { ProtocolError, readInt32 } from "./bytes.ts";

export class MessageBuffer {
  /** The largest length field accepted; longer messages are a protocol error. */
  maxLength: number;
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  /** Chunks that arrived while a message was incomplete, joined once it is. */
  #parts: Uint8Array[] = [];
  #partsLength = 0;
  /** Bytes needed (from #pos) before the next message is complete. */
  #need = 0;

  constructor(options: { maxLength: number }) {
    this.maxLength = options.maxLength;
  }

  /** Bytes received and not yet returned as messages. */
  get buffered(): number {
    return this.#buf.length - this.#pos + this.#partsLength;
  }

  push(chunk: Uint8Array): void {
    if (this.#pos >= this.#buf.length && this.#partsLength === 0) {
      this.#buf = chunk;
      this.#pos = 0;
      return;
    }
    this.#parts.push(chunk);
    this.#partsLength += chunk.length;
    if (this.#buf.length - this.#pos + this.#partsLength >= this.#need) this.#merge();
  }

  #merge(): void {
    const rest = this.#buf.length - this.#pos;
    const merged = new Uint8Array(rest + this.#partsLength);
    merged.set(this.#buf.subarray(this.#pos));
    let at = rest;
    for (const part of this.#parts) {
      merged.set(part, at);
      at += part.length;
    }
    this.#buf = merged;
    this.#pos = 0;
    this.#parts = [];
    this.#partsLength = 0;
  }

  /** Length of the typed message at `at` (type byte included), or -1 when its header is incomplete. */
  #typedLength(at: number): number {
    if (this.#buf.length - at < 5) return -1;
    const length = readInt32(this.#buf, at + 1);
    if (length < 4) throw new ProtocolError(`Invalid message length ${length}`);
    if (length > this.maxLength) {
      throw new ProtocolError(
        `Message of ${length} bytes is larger than the limit of ${this.maxLength} bytes`,
      );
    }
    return length + 1;
  }

  /** The next whole typed message (type byte, length, body), or null until more arrives. */
  next(): Uint8Array | null {
    const length = this.#typedLength(this.#pos);
    if (length < 0 || this.#buf.length - this.#pos < length) {
      this.#need = length < 0 ? 5 : length;
      return null;
    }
    const message = this.#buf.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return message;
  }

  /**
   * Every whole typed message available, as one view (for forwarding a
   * batch of backend messages at once), or null until one is complete.
   */
  nextBatch(): Uint8Array | null {
    const start = this.#pos;
    let at = start;
    for (;;) {
      const length = this.#typedLength(at);
      if (length < 0 || this.#buf.length - at < length) {
        this.#need = at - start + (length < 0 ? 5 : length);
        break;
      }
      at += length;
    }
    if (at === start) return null;
    this.#pos = at;
    return this.#buf.subarray(start, at);
  }

  /** The next untyped startup packet (length, code, body), or null until more arrives. */
  nextStartup(): Uint8Array | null {
    if (this.#buf.length - this.#pos < 4) {
      this.#need = 4;
      return null;
    }
    const length = readInt32(this.#buf, this.#pos);
    if (length < 8 || length > this.maxLength) {
      throw new ProtocolError(`Invalid startup packet length ${length}`);
    }
    if (this.#buf.length - this.#pos < length) {
      this.#need = length;
      return null;
    }
    const packet = this.#buf.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return packet;
  }
}
