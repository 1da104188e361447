/**
 * The embedded database's thread: one PGlite instance, driven by messages
 * from `PgliteClient` (pglite_client.ts). PGlite runs each statement
 * synchronously inside WASM, so here it blocks only this thread, and the
 * main thread can stop a statement by terminating this one.
 *
 * It also keeps the data directory from filling up: PostgreSQL PANICs when
 * it cannot create a WAL segment, and PGlite then spins forever and cannot
 * even start again on the full disk. Below a reserve of free space, the
 * app's writes are refused (the session's transactions are made read-only
 * and the refusal is reported as 53100) while reads go on; and a write let
 * in above the reserve fails as it grows into it (pglite_disk_guard.ts).
 */
/// <reference lib="deno.worker" />
import { PGlite, types as pgliteTypes } from "@electric-sql/pglite";
import { statfsSync } from "node:fs";
import type { Request, Response, WorkerError } from "./pglite_client.ts";
import { type DiskGuard, type EmscriptenFs, guardDisk } from "./pglite_disk_guard.ts";

/**
 * Values come back the same from both backends: int8 as number (our ids fit),
 * date and timestamp-without-zone as their text, numeric as text.
 */
const parsers = {
  [pgliteTypes.INT8]: (v: string) => Number(v),
  [pgliteTypes.DATE]: (v: string) => v,
  [pgliteTypes.TIMESTAMP]: (v: string) => v,
  [pgliteTypes.NUMERIC]: (v: string) => v,
};

/** Free WAL segments below which data writes are refused, and below which the audit log's too. */
const RESERVE_SEGMENTS = { writes: 4, essential: 2 };
/** Free space is looked up at most this often. */
const STATFS_EVERY_MS = 200;

let pg: PGlite | null = null;
let dataDir: string | undefined;
let segmentBytes = 16 * 1024 * 1024;
let checkedAt = -Infinity;
let freeBytes = Infinity;
/** The session's transactions are being made read-only (or writable for essential writes). */
let guarding = false;
/** Watches the files PGlite grows while a statement runs (a data directory on disk only). */
let disk: DiskGuard | null = null;

/** Messages run one after another, in the order they came. */
let queue: Promise<void> = Promise.resolve();

self.onmessage = (event: MessageEvent<Request>) => {
  const request = event.data;
  queue = queue.then(async () => {
    try {
      const [result, transfer] = await run(request);
      post({ id: request.id, ok: true, result }, transfer);
    } catch (error) {
      post({ id: request.id, ok: false, error: describe(error) });
    }
  });
};

function post(response: Response, transfer: Transferable[] = []): void {
  self.postMessage(response, transfer);
}

async function run(request: Request): Promise<[unknown, Transferable[]?]> {
  switch (request.op) {
    case "open": {
      dataDir = request.dataDir;
      pg = new PGlite({
        dataDir: request.dataDir,
        loadDataDir: request.loadDataDir,
        pgliteWasmModule: request.wasmModule,
        parsers,
        startParams: [
          ...PGlite.defaultStartParams,
          ...["-c", `shared_buffers=${request.sharedBuffersMb}MB`],
          // One session: shared memory for PostgreSQL's 100 connections would go unused.
          ...["-c", "max_connections=5"],
        ],
      });
      await pg.waitReady;
      const { rows } = await pg.query<{ bytes: number }>(
        "select pg_catalog.pg_size_bytes(pg_catalog.current_setting('wal_segment_size')) as bytes",
      );
      segmentBytes = Number(rows[0].bytes);
      if (dataDir) {
        const fs = (pg as unknown as { Module: { FS: EmscriptenFs } }).Module.FS;
        disk = guardDisk(fs, measureFree);
      }
      return [null];
    }
    case "query": {
      const db = opened();
      const guarded = await guardWrites(db, request.essential ?? false);
      try {
        const result = await db.query(request.sql, request.params, {
          rowMode: "object",
          blob: request.blob,
        });
        return [{ rows: result.rows, affectedRows: result.affectedRows }];
      } catch (error) {
        throw guarded || disk?.takeRefused() ? diskFull(error) : error;
      }
    }
    case "exec": {
      const db = opened();
      const guarded = await guardWrites(db, false);
      try {
        return [await db.exec(request.sql)];
      } catch (error) {
        throw guarded || disk?.takeRefused() ? diskFull(error) : error;
      }
    }
    case "protocol": {
      // The client hears PostgreSQL's own 53100 for a write refused on the way.
      if (disk) disk.reserveBytes = segmentBytes * RESERVE_SEGMENTS.writes;
      disk?.takeRefused();
      const reply = opened().execProtocolRawSync(request.bytes);
      // PGlite's reply may be a view of its own memory: a copy of our own is handed over.
      const own = reply.byteOffset === 0 && reply.byteLength === reply.buffer.byteLength
        ? reply
        : reply.slice();
      return [own, [own.buffer as ArrayBuffer]];
    }
    case "dump": {
      const blob = await opened().dumpDataDir(request.compression);
      return [blob];
    }
    case "close": {
      const db = pg;
      pg = null;
      if (db && !db.closed) await db.close();
      return [null];
    }
  }
}

function opened(): PGlite {
  if (!pg) throw new Error("The embedded database is not open");
  return pg;
}

/**
 * Below the reserve, makes the session's next transactions read-only, so a
 * write is refused before it can fill the disk; `true` when it did.
 * `essential` writes (the audit log) may go on longer, down to a smaller reserve.
 */
async function guardWrites(db: PGlite, essential: boolean): Promise<boolean> {
  if (!dataDir) return false;
  const now = performance.now();
  if (now - checkedAt > STATFS_EVERY_MS) {
    checkedAt = now;
    freeBytes = measureFree();
    disk?.measured(freeBytes);
  }
  disk?.takeRefused();
  if (disk) {
    disk.reserveBytes = segmentBytes * RESERVE_SEGMENTS[essential ? "essential" : "writes"];
  }
  const low = freeBytes < segmentBytes * RESERVE_SEGMENTS.writes;
  if (!low && !guarding) return false;
  // Space is back: the session's transactions may write again.
  guarding = low;
  const refuse = low && (!essential || freeBytes < segmentBytes * RESERVE_SEGMENTS.essential);
  // The SQL door's reset may have put the setting back: it is set before every request meanwhile.
  await db.exec(`set default_transaction_read_only = ${refuse ? "on" : "off"}`).catch(() => {});
  return refuse;
}

/** Free bytes on the data directory's device; Infinity when that cannot be told. */
function measureFree(): number {
  try {
    const stats = statfsSync(dataDir!);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return Infinity;
  }
}

/** A write refused for want of space, as PostgreSQL reports a full disk (53100). */
function diskFull(error: unknown): unknown {
  const code = (error as { code?: string })?.code;
  if (code !== "25006" && code !== "53100") return error;
  return Object.assign(
    new Error(
      `No space left on the device holding the data directory (${dataDir}): labgate refuses ` +
        `writes until space is freed there; reading goes on`,
    ),
    { code: "53100", severity: "ERROR" },
  );
}

/** An error as plain data: PGlite's DatabaseError fields (code, detail, hint, …) kept. */
function describe(error: unknown): WorkerError {
  if (!(error instanceof Error)) return { message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === "string" || typeof value === "number") fields[key] = value;
  }
  return { message: error.message, fields };
}
