/** Runs the system `openssl` with `stdin`; returns its exit code and all its output. */
export async function openssl(args: string[], stdin = ""): Promise<{ code: number; out: string }> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** Verifies the server at 127.0.0.1:`port` for `hostname` with `caFile` as the only trust. */
export function verifyServer(port: number, options: { caFile: string; hostname: string }) {
  return openssl([
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    options.hostname,
    "-CAfile",
    options.caFile,
    "-verify_return_error",
    "-verify_hostname",
    options.hostname,
  ]);
}
