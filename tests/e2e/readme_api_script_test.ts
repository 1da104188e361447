/**
 * README.md's "First five minutes with the API", run verbatim with bash,
 * curl and jq against a labgate process started on an empty database
 * (PGlite, and PostgreSQL when TEST_DATABASE_URL is set), with the one-time
 * password it prints — what a new user does.
 */
import assert from "node:assert/strict";
import { POSTGRES_URL, scratchPostgresDatabase } from "../_support/backends.ts";
import { startInstance } from "./_instances.ts";

const README = new URL("../../README.md", import.meta.url);
const HEADING = "### First five minutes with the API";
const TOOLS = ["bash", "curl", "jq"];

async function installed(tool: string): Promise<boolean> {
  const found = await new Deno.Command("sh", {
    args: ["-c", `command -v ${tool}`],
    stdout: "null",
  }).output();
  return found.success;
}

const missing = (await Promise.all(TOOLS.map(async (t) => (await installed(t)) ? null : t)))
  .filter((t) => t !== null);
if (missing.length) {
  console.log(`${missing.join(", ")} not found: the README script test is ignored`);
}

/** The first sh block after `heading` in `markdown`. */
function shBlockAfter(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README.md has no "${heading}"`);
  const block = /\n```sh\n([\s\S]*?)\n```\n/.exec(markdown.slice(at));
  assert.ok(block, `no sh block after "${heading}"`);
  return block[1];
}

async function runReadmeScript(env: Record<string, string>): Promise<void> {
  const script = shBlockAfter(await Deno.readTextFile(README), HEADING);
  const instance = await startInstance("127.0.0.1", { ...env, LABGATE_SQL_DOOR_PORT: "0" });
  const workDir = await Deno.makeTempDir({ prefix: "labgate_readme_" });
  try {
    const [, password] = await instance.process.waitFor(/one-time password (\S+)/);
    const run = await new Deno.Command("bash", {
      args: ["-c", script],
      cwd: workDir,
      env: { LABGATE: instance.url, PASSWORD: password, NEW_PASSWORD: "my-own-lab-password-7" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(run.stdout);
    const err = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, `the script failed:\n${out}\n${err}\n${instance.process.stderr}`);
    const lines = out.trim().split(/\r?\n/);
    assert.equal(lines[0], "password change required: true");
    assert.ok(lines.includes("{}"), "the password change answers {}");
    assert.ok(lines.includes('{"inserted":2}'), out);
    const page = JSON.parse(lines.find((l) => l.startsWith('{"rows"'))!);
    assert.deepEqual(page, {
      rows: [{ Name: "S-1", Dose: "12.50", Taken: "2024-02-29T07:30:00Z" }],
      total: 1,
      limit: 100,
      offset: 0,
    });
    // The export, read with the API key.
    assert.deepEqual(lines.slice(-3), [
      "Name,Dose,Taken",
      "S-1,12.50,2024-02-29T07:30:00Z",
      "S-2,0.75,2024-03-01T09:00:00Z",
    ]);
  } finally {
    await instance.process.stop();
    await Deno.remove(workDir, { recursive: true });
  }
}

Deno.test({
  name: "README.md's first five minutes with the API run as written [pglite]",
  ignore: missing.length > 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "labgate_readme_data_" });
    try {
      await runReadmeScript({ LABGATE_DATA_DIR: dataDir });
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "README.md's first five minutes with the API run as written [postgres]",
  ignore: missing.length > 0 || !POSTGRES_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const scratch = await scratchPostgresDatabase(POSTGRES_URL!, {
      prefix: "lgreadme",
      poolSize: 1,
    });
    try {
      await runReadmeScript({ DATABASE_URL: scratch.url });
    } finally {
      await scratch.dispose();
    }
  },
});
