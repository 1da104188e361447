/** Starting real labgate processes (main.ts) for multi-process tests. */

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** How long a process may take to start (type-free `deno run`, migrations, certificate). */
const START_TIMEOUT_MS = 60_000;

/** A free TCP port on loopback now (the caller binds it soon after). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** One `deno run main.ts` process and what it printed. */
export class LabgateProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  #stderr = "";
  readonly #waiters = new Set<() => void>();
  readonly status: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.status = child.status;
    void this.#read(child.stdout, (line) => this.#lines.push(line));
    void this.#read(child.stderr, (line) => (this.#stderr += `${line}\n`));
  }

  /** Starts main.ts with `env` (PORT=0 unless given); no labgate setting of this process leaks in. */
  static spawn(env: Record<string, string>): LabgateProcess {
    const inherited = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([name]) =>
        !/^(LABGATE_|DATABASE_URL$|PORT$)/.test(name)
      ),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN],
      env: { ...inherited, PORT: "0", LABGATE_LOG_REQUESTS: "false", ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new LabgateProcess(child);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** How many stdout lines so far match `pattern`. */
  count(pattern: RegExp): number {
    return this.#lines.filter((line) => pattern.test(line)).length;
  }

  /** Everything written to stdout so far. */
  get stdout(): string {
    return this.#lines.join("\n");
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  async #read(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) onLine(line);
      for (const wake of this.#waiters) wake();
    }
    if (buffered) onLine(buffered);
    for (const wake of this.#waiters) wake();
  }

  /** The first match of `pattern` in a stdout line, waiting for it; throws if the process ends. */
  async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    let exited = false;
    void this.status.then(() => (exited = true));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (true) {
      for (const line of this.#lines) {
        const match = pattern.exec(line);
        if (match) return match;
      }
      if (exited || Date.now() > deadline) {
        throw new Error(
          `labgate never printed ${pattern}${exited ? " and exited" : ""}:\n` +
            `${this.#lines.join("\n")}\n${this.#stderr}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 100);
        this.#waiters.add(wake);
      });
    }
  }

  /** Stops it as an operator would (SIGTERM) and waits for it to end. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already ended
    }
    await this.status;
  }
}

/** A labgate serving HTTP and the SQL door on `hostname`, started and ready. */
export interface Instance {
  process: LabgateProcess;
  /** e.g. http://127.0.0.2:41234 */
  url: string;
  hostname: string;
}

export async function startInstance(
  hostname: string,
  env: Record<string, string>,
): Promise<Instance> {
  const process = LabgateProcess.spawn({ ...env, LABGATE_HOSTNAME: hostname });
  try {
    const [, port] = await process.waitFor(/^labgate: http:\/\/[^:]+:(\d+) /);
    return { process, url: `http://${hostname}:${port}`, hostname };
  } catch (error) {
    await process.stop();
    throw error;
  }
}

/**
 * Polls `check` until it returns true; fails when `withinMs` pass first.
 * Multi-instance changes are promised within 1 s; polling shows it without sleeping.
 */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  withinMs = 2_000,
): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
