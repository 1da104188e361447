/**
 * The socket npm `pg` talks through, on `Deno.Conn` instead of `node:net`.
 * The HTTP bench's profile put a fifth of labgate's main thread in the
 * Node layer's `writeBuffer`; a Deno.Conn write holds the thread about
 * half as long (27 µs against 45 µs per query here), and a loop of
 * 100-row queries ran ~20 % more per second at the same CPU. pg keeps the
 * protocol, types, errors and pool: this class only carries its bytes,
 * with the events pg's Connection listens to (connect, data, error, end,
 * close), emitted after the call that causes them as Node does.
 */
import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";

/** Bytes read per `Deno.Conn.read`: a 100-row page arrives in a few reads. */
const READ_SIZE = 64 * 1024;

type Callback = (error?: Error | null) => void;

export class DenoSocket extends EventEmitter {
  writable = false;
  destroyed = false;
  #conn: Deno.Conn | null = null;
  #noDelay = false;
  /** Writes made while corked: pg corks around one query's messages. */
  #corked: Uint8Array[] | null = null;
  /** Chunks waiting for the one write loop, with their callbacks. */
  #queue: { bytes: Uint8Array; done?: Callback }[] = [];
  #writing = false;
  #closed = false;

  /** `port` is a Unix socket path when pg connects to a socket directory. */
  connect(port: number | string, host?: string): this {
    const connecting: Promise<Deno.Conn> = typeof port === "string" && port.startsWith("/")
      ? Deno.connect({ transport: "unix", path: port })
      : Deno.connect({ hostname: host ?? "localhost", port: Number(port) });
    connecting.then((conn) => {
      if (this.destroyed) {
        conn.close();
        return;
      }
      this.#conn = conn;
      if (this.#noDelay && conn.remoteAddr.transport === "tcp") {
        (conn as Deno.TcpConn).setNoDelay(true);
      }
      this.writable = true;
      this.emit("connect");
      void this.#read(conn);
      this.#flush();
    }, (error) => this.#fail(error));
    return this;
  }

  setNoDelay(noDelay = true): this {
    this.#noDelay = noDelay;
    return this;
  }

  setKeepAlive(enable = false): this {
    if (this.#conn?.remoteAddr.transport === "tcp") {
      (this.#conn as Deno.TcpConn).setKeepAlive(enable);
    }
    return this;
  }

  ref(): this {
    this.#conn?.ref();
    return this;
  }

  unref(): this {
    this.#conn?.unref();
    return this;
  }

  cork(): void {
    this.#corked ??= [];
  }

  /** Sends what was written while corked as one write. */
  uncork(): void {
    const chunks = this.#corked;
    this.#corked = null;
    if (!chunks?.length) return;
    const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of chunks) {
      joined.set(chunk, at);
      at += chunk.length;
    }
    this.#enqueue(joined);
  }

  write(data: Uint8Array | string, encoding?: string | Callback, done?: Callback): boolean {
    const callback = typeof encoding === "function" ? encoding : done;
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    if (this.#corked && !callback) this.#corked.push(bytes);
    else this.#enqueue(bytes, callback);
    return true;
  }

  /** Closes once everything written so far has been sent. */
  end(done?: Callback): this {
    this.writable = false;
    if (!this.#conn) {
      // Not connected yet: nothing to send, and the connection is dropped when it comes.
      this.destroyed = true;
      this.#close(done);
      return this;
    }
    this.#queue.push({ bytes: new Uint8Array(0), done: () => this.#close(done) });
    this.#flush();
    return this;
  }

  destroy(error?: Error): this {
    this.destroyed = true;
    this.writable = false;
    this.#queue = [];
    if (error) queueMicrotask(() => this.emit("error", error));
    this.#close();
    return this;
  }

  #enqueue(bytes: Uint8Array, done?: Callback): void {
    this.#queue.push({ bytes, done });
    this.#flush();
  }

  /** One write loop per socket, so chunks go out whole and in order. */
  #flush(): void {
    if (this.#writing || !this.#conn) return;
    this.#writing = true;
    void this.#writeQueued(this.#conn);
  }

  async #writeQueued(conn: Deno.Conn): Promise<void> {
    while (this.#queue.length) {
      const { bytes, done } = this.#queue.shift()!;
      try {
        for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
      } catch (error) {
        this.#writing = false;
        done?.(error as Error);
        this.#fail(error);
        return;
      }
      done?.();
    }
    // Cleared in the same turn as the last length check, so no chunk is left waiting.
    this.#writing = false;
  }

  async #read(conn: Deno.Conn): Promise<void> {
    const chunk = new Uint8Array(READ_SIZE);
    try {
      for (;;) {
        const n = await conn.read(chunk);
        if (n === null) break;
        // A copy: pg's parser keeps a partial message's bytes until the next read.
        this.emit("data", asciiFastBuffer(chunk.slice(0, n)));
      }
    } catch (error) {
      if (!this.#closed) this.#fail(error);
      return;
    }
    this.emit("end");
    this.#close();
  }

  /** A lost or refused connection: pg fails the queries in flight and the pool drops it. */
  #fail(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    if (e instanceof Deno.errors.ConnectionReset) Object.assign(e, { code: "ECONNRESET" });
    if (e instanceof Deno.errors.BrokenPipe) Object.assign(e, { code: "EPIPE" });
    if (!this.#closed) this.emit("error", e);
    this.#close();
  }

  #close(done?: Callback): void {
    this.writable = false;
    if (this.#closed) return done?.();
    this.#closed = true;
    try {
      this.#conn?.close();
    } catch {
      // already closed by the peer
    }
    done?.();
    queueMicrotask(() => this.emit("close"));
  }
}

/**
 * pg decodes every field of every row with `Buffer.toString`, which in
 * Deno's Node layer is a native call each time: a 100-row page spent more
 * in those calls than in the rest of pg. Short ASCII fields (numbers,
 * dates, most names) are cheaper to decode here; anything else, or any
 * other encoding, goes to the Buffer's own decoder.
 */
const asciiFastProto: Buffer = Object.create(Buffer.prototype, {
  toString: {
    value(this: Buffer, encoding?: string, start = 0, end = this.length): string {
      const fast = (encoding === "utf-8" || encoding === "utf8") && start >= 0 &&
        end <= this.length && end - start <= ASCII_FAST_MAX;
      if (fast) {
        let text = "";
        for (let i = start; i < end; i++) {
          const byte = this[i];
          if (byte >= 0x80) return Buffer.prototype.toString.call(this, encoding, start, end);
          text += String.fromCharCode(byte);
        }
        return text;
      }
      return Buffer.prototype.toString.call(this, encoding, start, end);
    },
  },
});

/** Longer fields go to the native decoder, whose fixed cost they outweigh. */
const ASCII_FAST_MAX = 64;

function asciiFastBuffer(bytes: Uint8Array): Buffer {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  Object.setPrototypeOf(buffer, asciiFastProto);
  return buffer;
}
