/**
 * Byte streams under the protocol: a plain Deno TCP connection, or the same
 * connection upgraded to TLS in place after an SSLRequest. Deno's own TLS
 * API is client-only, so the server side of the upgrade is node:tls
 * `TLSSocket({ isServer: true })` over a Duplex that reads the Deno
 * connection. Plain connections stay on Deno's native sockets, which
 * forward faster than node:net (see README notes).
 */
import { Duplex } from "node:stream";
import tls from "node:tls";
import { concat } from "./bytes.ts";

export interface Transport {
  readonly tls: boolean;
  /** Next chunk received, or null when the peer is gone. */
  read(): Promise<Uint8Array | null>;
  /** Queues bytes; they are sent in order. */
  write(bytes: Uint8Array): void;
  /** Bytes queued and not yet sent. */
  readonly backlog: number;
  /** Resolves when everything queued is sent (or the transport closed). */
  drained(): Promise<void>;
  /** Sends what is queued, then closes. */
  end(): void;
  /** Closes now; queued bytes are dropped. */
  close(): void;
}

const READ_SIZE = 64 * 1024;
/** A read gets at least this much room; less left: a new arena. */
const MIN_READ = 16 * 1024;

/** A Deno TCP (or Unix) connection with an ordered write queue. */
export class ConnTransport implements Transport {
  readonly tls = false;
  readonly #conn: Deno.Conn;
  /**
   * Chunks are read into successive parts of one buffer and handed out as
   * views, so a small read allocates nothing; a part is never reused (the
   * protocol layer keeps views until they are forwarded), so a full buffer
   * is replaced, not rewound.
   */
  #arena = new Uint8Array(READ_SIZE);
  #used = 0;
  /** Bytes being written now; what is written meanwhile queues behind them. */
  #sending: Uint8Array | null = null;
  #queue: Uint8Array[] = [];
  #backlog = 0;
  #closed = false;
  #waiters: (() => void)[] = [];

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  get conn(): Deno.Conn {
    return this.#conn;
  }

  get backlog(): number {
    return this.#backlog;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    if (READ_SIZE - this.#used < MIN_READ) {
      this.#arena = new Uint8Array(READ_SIZE);
      this.#used = 0;
    }
    const start = this.#used;
    let n: number | null;
    try {
      n = await this.#conn.read(this.#arena.subarray(start));
    } catch {
      n = null;
    }
    if (n === null) return null;
    this.#used = start + n;
    return this.#arena.subarray(start, start + n);
  }

  /** Reads exactly `n` bytes (startup negotiation), or null if the peer goes first. */
  async readExactly(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      let read: number | null;
      try {
        read = await this.#conn.read(out.subarray(got));
      } catch {
        read = null;
      }
      if (read === null) return null;
      got += read;
    }
    return out;
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || bytes.length === 0) return;
    this.#backlog += bytes.length;
    if (this.#sending) this.#queue.push(bytes);
    else this.#send(bytes);
  }

  #send(bytes: Uint8Array): void {
    this.#sending = bytes;
    this.#conn.write(bytes).then(this.#written, this.#failed);
  }

  readonly #written = (n: number): void => {
    const sent = this.#sending!;
    this.#sending = null;
    if (this.#closed) return;
    this.#backlog -= n;
    if (n < sent.length) return this.#send(sent.subarray(n));
    if (this.#queue.length) {
      const next = concat(this.#queue);
      this.#queue = [];
      return this.#send(next);
    }
    this.#wake();
  };

  readonly #failed = (): void => {
    this.#sending = null;
    this.close();
  };

  #wake(): void {
    if (!this.#waiters.length) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  drained(): Promise<void> {
    if (this.#closed || !this.#sending) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops writing and reading; queued bytes are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#backlog = 0;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
    this.#wake();
  }

  end(): void {
    void this.drained().then(() => this.close());
  }
}

/** A Duplex over a Deno connection, for node:tls to run the server side of TLS on. */
function duplexOf(conn: Deno.Conn): Duplex {
  let reading = false;
  const duplex: Duplex = new Duplex({
    read() {
      if (reading) return;
      reading = true;
      void (async () => {
        const buf = new Uint8Array(READ_SIZE);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) {
              duplex.push(null);
              return;
            }
            if (!duplex.push(buf.slice(0, n))) break;
          }
        } catch {
          duplex.push(null);
          return;
        }
        reading = false;
      })();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      (async () => {
        for (let at = 0; at < chunk.length;) at += await conn.write(chunk.subarray(at));
      })().then(() => callback(), (error) => callback(error));
    },
    final(callback) {
      try {
        conn.closeWrite();
      } catch {
        // the peer already went
      }
      callback();
    },
    destroy(error, callback) {
      try {
        conn.close();
      } catch {
        // already closed
      }
      callback(error);
    },
  });
  return duplex;
}

/** The server side of TLS over a connection that has just answered an SSLRequest with 'S'. */
export class TlsTransport implements Transport {
  readonly tls = true;
  readonly #socket: tls.TLSSocket;
  readonly #chunks: AsyncIterator<Uint8Array>;
  #closed = false;

  private constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    this.#chunks = socket[Symbol.asyncIterator]();
    socket.on("close", () => (this.#closed = true));
  }

  /** Runs the TLS handshake; rejects when the client gives up or the handshake fails. */
  static accept(conn: Deno.Conn, context: tls.SecureContext): Promise<TlsTransport> {
    const socket = new tls.TLSSocket(duplexOf(conn), { isServer: true, secureContext: context });
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => {
        socket.destroy();
        reject(error);
      };
      socket.once("error", failed);
      socket.once("close", () => reject(new Error("Client closed the connection during TLS")));
      socket.once("secure", () => {
        socket.off("error", failed);
        socket.on("error", () => socket.destroy());
        resolve(new TlsTransport(socket));
      });
    });
  }

  get backlog(): number {
    return this.#socket.writableLength;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    try {
      const { value, done } = await this.#chunks.next();
      return done ? null : value;
    } catch {
      return null;
    }
  }

  write(bytes: Uint8Array): void {
    if (!this.#closed && bytes.length) this.#socket.write(bytes);
  }

  drained(): Promise<void> {
    if (this.#closed || !this.#socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off("drain", done);
        this.#socket.off("close", done);
        resolve();
      };
      this.#socket.on("drain", done);
      this.#socket.on("close", done);
    });
  }

  end(): void {
    this.#closed = true;
    this.#socket.end();
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }
}
