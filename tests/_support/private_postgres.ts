/**
 * A PostgreSQL server of a test's own, for faults that would hurt every
 * other test on the shared server: killing the postmaster, restarting it,
 * stopping it. initdb and pg_ctl run as the postgres user (they refuse
 * root) in a temp dir, on a free port, with trust authentication.
 */
import { freePort } from "../e2e/_instances.ts";

const BIN = "/usr/lib/postgresql/15/bin";

/**
 * Why a private server cannot run here, or null when it can: the binaries
 * and root (to act as the postgres user) are needed.
 */
export function privatePostgresUnavailable(): string | null {
  try {
    Deno.statSync(`${BIN}/pg_ctl`);
  } catch {
    return `no PostgreSQL binaries in ${BIN}`;
  }
  if (Deno.uid() !== 0) return "not root: cannot run initdb as the postgres user";
  return null;
}

async function asPostgres(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", `${BIN}/${command}`, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed:\n${text}`);
  return text;
}

export class PrivatePostgres {
  readonly port: number;
  readonly #dir: string;

  private constructor(dir: string, port: number) {
    this.#dir = dir;
    this.port = port;
  }

  /** A new cluster, initialized and started, with database `labgate`. */
  static async start(): Promise<PrivatePostgres> {
    const dir = await Deno.makeTempDir({ prefix: "lg_private_pg_" });
    await new Deno.Command("chown", { args: ["postgres", dir] }).output();
    const server = new PrivatePostgres(dir, freePort());
    try {
      await asPostgres("initdb", [
        "-D",
        server.#dataDir,
        "-U",
        "postgres",
        "--auth=trust",
        "--no-sync",
      ]);
      await server.restart("start");
      await asPostgres("createdb", ["-h", "127.0.0.1", "-p", String(server.port), "labgate"]);
    } catch (error) {
      await server.destroy();
      throw error;
    }
    return server;
  }

  get #dataDir(): string {
    return `${this.#dir}/data`;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/labgate`;
  }

  /** The postmaster's process id, from its pid file. */
  async postmasterPid(): Promise<number> {
    const text = await Deno.readTextFile(`${this.#dataDir}/postmaster.pid`);
    return Number(text.split("\n")[0]);
  }

  /** Kills the postmaster with SIGKILL: its backends notice it gone and exit. */
  async crash(): Promise<void> {
    Deno.kill(await this.postmasterPid(), "SIGKILL");
  }

  /**
   * `start` after a crash or stop; `restart` is `pg_ctl restart -m immediate`
   * (every session cut, crash recovery at start); `stop` a fast shutdown.
   */
  async restart(how: "start" | "restart" | "stop"): Promise<void> {
    const options = `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    const args = how === "stop"
      ? ["stop", "-D", this.#dataDir, "-m", "fast", "-w"]
      : [how, "-D", this.#dataDir, "-w", "-l", `${this.#dir}/log`, "-o", options];
    if (how === "restart") args.splice(3, 0, "-m", "immediate");
    // After a crash, start fails until the orphaned backends have let go of shared memory.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await asPostgres("pg_ctl", args);
        return;
      } catch (error) {
        if (how !== "start" || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** Stops the server (if running) and removes its files. */
  async destroy(): Promise<void> {
    await asPostgres("pg_ctl", ["stop", "-D", this.#dataDir, "-m", "immediate", "-w"]).catch(
      () => {},
    );
    await Deno.remove(this.#dir, { recursive: true });
  }
}
