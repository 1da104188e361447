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
