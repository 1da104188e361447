/**
 * Keeps one large write from filling the embedded database's disk. The
 * request-level guard in pglite_worker.ts refuses writes once free space is
 * below the reserve, but a single statement started above it (a big insert,
 * a sort spilling to temporary files) can still use up the rest: PostgreSQL
 * then PANICs when it cannot create a WAL segment, or is left unable even to
 * roll back, and the one session the app shares stays broken.
 *
 * So the file system under PGlite is watched as the statement runs: a write
 * that would grow a table, index or temporary file into the reserve fails
 * with ENOSPC there, which PostgreSQL reports as an ordinary ERROR (53100)
 * and rolls back, while the WAL (and PostgreSQL's own bookkeeping) may still
 * use the reserve to finish cleanly. Growth is counted as it happens and the
 * free space looked up again after every MiB of it.
 */

/** What of Emscripten's FS (PGlite's `Module.FS`) is wrapped. */
export interface EmscriptenFs {
  write(
    stream: FsStream,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position?: number,
    canOwn?: boolean,
  ): number;
  ftruncate(fd: number, length: number): void;
  truncate(path: string | object, length: number): void;
  unlink(path: string): void;
  rename(from: string, to: string): void;
  stat(path: string): { size: number };
  getStream(fd: number): FsStream | undefined;
  ErrnoError: new (errno: number) => Error;
}

interface FsStream {
  path: string;
  position: number;
  flags: number;
}

/** Emscripten's errno for "No space left on device". */
const ENOSPC = 51;
const O_APPEND = 1024;
/** Free space is looked up again after this much growth. */
const RECHECK_BYTES = 1024 * 1024;
/** Files whose growth may be refused: tables, indexes and their forks; temporary files. */
const REFUSABLE =
  /\/(base\/\d+|global|pg_tblspc\/[^/]+\/[^/]+\/\d+)\/\d+(_[a-z]+)?(\.\d+)?$|\/pgsql_tmp\//;

export interface DiskGuard {
  /** Free bytes that writes may not go into now (set per request: less for the audit log's). */
  reserveBytes: number;
  /** A write was refused since the last `take()`. */
  takeRefused(): boolean;
  /** The free space was looked up (by the request-level guard): counting starts again from it. */
  measured(freeBytes: number): void;
}

/**
 * Wraps `fs`'s writes and truncations; `measure` returns the free bytes on
 * the data directory's device (Infinity when unknown).
 */
export function guardDisk(fs: EmscriptenFs, measure: () => number): DiskGuard {
  const sizes = new Map<string, number>();
  /** Temporary files a write was refused to: their cleanup's flush may still write. */
  const refusedFiles = new Set<string>();
  let free = measure();
  let grown = 0;
  let refused = false;
  const guard: DiskGuard = {
    reserveBytes: 0,
    takeRefused() {
      const was = refused;
      refused = false;
      return was;
    },
    measured(freeBytes) {
      free = freeBytes;
      grown = 0;
    },
  };

  const sizeOf = (path: string): number => {
    let size = sizes.get(path);
    if (size === undefined) {
      try {
        size = fs.stat(path).size;
      } catch {
        size = 0;
      }
      sizes.set(path, size);
    }
    return size;
  };

  /** `bytes` more are about to be used by `path`: throws ENOSPC if that reaches the reserve. */
  const grow = (path: string, bytes: number) => {
    if (bytes <= 0) return;
    if (grown + bytes > RECHECK_BYTES) guard.measured(measure());
    if (REFUSABLE.test(path) && !refusedFiles.has(path)) {
      let left = free - grown - bytes;
      // Before refusing, the space as it is now (something may have been freed).
      if (left < guard.reserveBytes && grown > 0) {
        guard.measured(measure());
        left = free - bytes;
      }
      if (left < guard.reserveBytes) {
        refused = true;
        if (path.includes("/pgsql_tmp/")) refusedFiles.add(path);
        throw new fs.ErrnoError(ENOSPC);
      }
    }
    grown += bytes;
  };

  const { write, ftruncate, truncate, unlink, rename } = fs;
  fs.write = function (stream, buffer, offset, length, position, canOwn) {
    const path = stream.path;
    const size = sizeOf(path);
    const at = stream.flags & O_APPEND ? size : position ?? stream.position;
    const end = at + length;
    grow(path, end - size);
    const written = write.call(fs, stream, buffer, offset, length, position, canOwn);
    if (end > size) sizes.set(path, end);
    return written;
  };
  fs.ftruncate = function (fd, length) {
    const path = fs.getStream(fd)?.path;
    if (path) grow(path, length - sizeOf(path));
    ftruncate.call(fs, fd, length);
    if (path) sizes.set(path, length);
  };
  fs.truncate = function (path, length) {
    if (typeof path === "string") grow(path, length - sizeOf(path));
    truncate.call(fs, path, length);
    if (typeof path === "string") sizes.set(path, length);
  };
  fs.unlink = function (path) {
    unlink.call(fs, path);
    sizes.delete(path);
    refusedFiles.delete(path);
  };
  fs.rename = function (from, to) {
    rename.call(fs, from, to);
    sizes.delete(from);
    sizes.delete(to);
  };
  return guard;
}
