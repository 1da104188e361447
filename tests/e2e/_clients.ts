/**
 * Running real PostgreSQL clients (psql, Python, Java) from tests. A test
 * whose client is not installed is skipped with a message saying so; CI
 * installs them all.
 */

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const found = new Map<string, Promise<boolean>>();

/** Whether `command args` runs successfully on this machine. */
export function installed(command: string, args = ["--version"]): Promise<boolean> {
  const key = [command, ...args].join(" ");
  if (!found.has(key)) {
    found.set(
      key,
      new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output()
        .then((o) => o.success, () => false),
    );
  }
  return found.get(key)!;
}

/** Says why a test did nothing. */
export function skipped(what: string): void {
  console.log(`SKIPPED: ${what} — install it to run this test (CI does)`);
}

export async function run(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<Run> {
  const child = new Deno.Command(command, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Debian's python3, which has psycopg2 and pyodbc from apt. */
export const PYTHON = "/usr/bin/python3";

/** Runs Python `source` (written to a temporary file) with `args`, on Debian's python3. */
export async function runPython(source: string, args: string[]): Promise<Run> {
  const script = await Deno.makeTempFile({ suffix: ".py" });
  try {
    await Deno.writeTextFile(script, source);
    return await run(PYTHON, [script, ...args]);
  } finally {
    await Deno.remove(script);
  }
}

/**
 * A client process kept open and fed one line at a time on stdin, for
 * connections that must stay open while a test changes something. After
 * each line the client prints `DONE` on a line of its own.
 */
export class LineClient implements AsyncDisposable {
  static readonly DONE = "__done__";
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: ReadableStreamDefaultReader<string>;
  #buffered = "";
  readonly #stderr: Promise<string>;

  constructor(command: string, args: string[], env: Record<string, string> = {}) {
    this.#child = new Deno.Command(command, {
      args,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#stdout = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /**
   * Sends `line` and returns what the client printed up to DONE, or until it
   * exited (then `exited` is set and `stderr` has what it said).
   */
  async ask(line: string): Promise<{ stdout: string; exited: boolean; stderr: string }> {
    await this.#stdin.write(new TextEncoder().encode(`${line}\n`)).catch(() => {});
    const out: string[] = [];
    for (;;) {
      const line = await this.#line();
      if (line === null) {
        return { stdout: out.join("\n"), exited: true, stderr: await this.#stderr };
      }
      if (line === LineClient.DONE) return { stdout: out.join("\n"), exited: false, stderr: "" };
      out.push(line);
    }
  }

  /** The next line of stdout, or null at its end. */
  async #line(): Promise<string | null> {
    for (;;) {
      const newline = this.#buffered.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffered.slice(0, newline);
        this.#buffered = this.#buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await this.#stdout.read();
      if (done) {
        const rest = this.#buffered;
        this.#buffered = "";
        return rest || null;
      }
      this.#buffered += value;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stdin.close().catch(() => {});
    await this.#child.status;
    await this.#stdout.cancel().catch(() => {});
    await this.#stderr;
  }
}
