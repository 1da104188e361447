/**
 * `deno task test [deno test arguments]`: runs the test files in parallel
 * (`deno test --parallel`, DENO_JOBS at a time) after doing once what every
 * test would otherwise do for itself: a migrated PGlite data directory, and
 * on PostgreSQL a migrated template database that each test's database is
 * copied from. Both are removed when the run ends. Arguments go to deno test
 * (tests/ is added unless one names a file or folder); deno test's output,
 * summary line and exit code pass through; after them, when more than one
 * file ran, the slowest files and tests (suite_times.ts), read from deno
 * test's lines as they pass.
 */
import pg from "pg";
import { openDatabase } from "../../src/db/mod.ts";
import { ensureShadowCatalog } from "../../src/sql/mod.ts";
import { fileSeconds, longestFirst, type TestTime, testTime, timesSummary } from "./suite_times.ts";
import {
  migratedPgliteDataDir,
  PGLITE_SNAPSHOT_ENV,
  POSTGRES_TEMPLATE_ENV,
  POSTGRES_URL,
} from "./backends.ts";

/**
 * Test files at a time. More than the cores: much of a test's time is spent
 * waiting on PostgreSQL, on client programs and on timers.
 */
const DEFAULT_JOBS = 4;

/** Makes a migrated template database, with the shadow catalog, on the test server; returns its name. */
async function createTemplate(serverUrl: string, admin: pg.Client): Promise<string> {
  const name = `lgt_template_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await admin.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString(), poolSize: 1 });
  await ensureShadowCatalog(database.root);
  await database.close();
  // CREATE DATABASE ... TEMPLATE refuses while anyone is connected to the template.
  for (let i = 0; i < 100; i++) {
    const { rows } = await admin.query(
      `select count(*)::int as n from pg_stat_activity where datname = $1`,
      [name],
    );
    if (rows[0].n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await admin.query(`alter database ${name} with is_template true allow_connections false`);
  return name;
}

async function dropTemplate(admin: pg.Client, name: string): Promise<void> {
  await admin.query(`alter database ${name} with is_template false`);
  await admin.query(`drop database if exists ${name} with (force)`);
}

/**
 * Where the last run's time per test file is kept, to start the long ones
 * first: outside the checkout, as a cache (a clean checkout on the same
 * machine finds it; without it, untimed files are guessed).
 */
function timesFile(): string {
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${cache}/labgate/test_file_seconds.json`;
}

async function knownTimes(): Promise<Record<string, number>> {
  try {
    return JSON.parse(await Deno.readTextFile(timesFile()));
  } catch {
    return {};
  }
}

async function rememberTimes(times: TestTime[]): Promise<void> {
  const file = timesFile();
  try {
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(
      file,
      JSON.stringify({ ...await knownTimes(), ...fileSeconds(times) }),
    );
  } catch (error) {
    console.error(`(test times not kept in ${file}: ${(error as Error).message})`);
  }
}

/** Every test file under tests/, as deno test would find them. */
async function testFiles(dir = "tests"): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await testFiles(path));
    else if (/_test\.tsx?$/.test(entry.name)) files.push(path);
  }
  return files;
}

/** Whether `arg` names a file or folder (so tests/ is not added to the run). */
function isPath(arg: string): boolean {
  try {
    Deno.statSync(arg);
    return true;
  } catch {
    return false;
  }
}

/** Copies deno test's output to ours, line by line, noting each test's time. */
async function passThrough(output: ReadableStream<Uint8Array>, times: TestTime[]): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of output) {
    for (let written = 0; written < chunk.length;) {
      written += await Deno.stdout.write(chunk.subarray(written));
    }
    const lines = (pending + decoder.decode(chunk, { stream: true })).split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      const time = testTime(line);
      if (time) times.push(time);
    }
  }
}

async function runSuite(args: string[]): Promise<number> {
  const snapshotFile = await Deno.makeTempFile({ prefix: "labgate-pglite-", suffix: ".tar" });
  const admin = POSTGRES_URL ? new pg.Client({ connectionString: POSTGRES_URL }) : null;
  let template: string | undefined;
  try {
    await Deno.writeFile(
      snapshotFile,
      new Uint8Array(await (await migratedPgliteDataDir()).arrayBuffer()),
    );
    if (admin) {
      await admin.connect();
      template = await createTemplate(POSTGRES_URL!, admin);
    }
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--allow-all",
        "--parallel",
        ...args,
        ...(args.some(isPath) ? [] : longestFirst(await testFiles(), await knownTimes())),
      ],
      env: {
        DENO_JOBS: Deno.env.get("DENO_JOBS") ?? String(DEFAULT_JOBS),
        [PGLITE_SNAPSHOT_ENV]: snapshotFile,
        ...(template ? { [POSTGRES_TEMPLATE_ENV]: template } : {}),
      },
      stdin: "inherit",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    // Ctrl-C reaches deno test too; this process stays to clean up after it.
    const ignore = () => {};
    Deno.addSignalListener("SIGINT", ignore);
    try {
      const times: TestTime[] = [];
      await passThrough(child.stdout, times);
      const { code } = await child.status;
      if (new Set(times.map((t) => t.file)).size > 1) {
        console.log(`\n${timesSummary(times)}`);
        await rememberTimes(times);
      }
      return code;
    } finally {
      Deno.removeSignalListener("SIGINT", ignore);
    }
  } finally {
    await Deno.remove(snapshotFile).catch(() => {});
    if (admin && template) await dropTemplate(admin, template);
    await admin?.end();
  }
}

Deno.exit(await runSuite(Deno.args));
