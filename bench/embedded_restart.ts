/**
 * Where a restart of the embedded database's thread goes (docs/performance.md):
 * `deno run -A bench/embedded_restart.ts [runs]`. Times, each the median of
 * the runs: a whole restart as the app sees it (a statement stopped, until
 * the next answers); a new thread loading its module; PGlite opening a data
 * directory left by a killed thread (crash recovery), with the WASM compiled
 * once as labgate does, with it compiled anew, and with the file-system
 * bundle passed in too.
 */
import { PGlite } from "@electric-sql/pglite";
import { PgliteClient, StatementStopped } from "../src/db/pglite_client.ts";
import { query } from "../wire/protocol/messages.ts";

if ((globalThis as { name?: string }).name === "open") {
  // deno-lint-ignore no-explicit-any
  (self as any).onmessage = async (event: MessageEvent<Record<string, unknown>>) => {
    const started = performance.now();
    const pg = new PGlite(event.data);
    await pg.waitReady;
    const ms = performance.now() - started;
    await pg.exec("insert into t values (1)");
    // deno-lint-ignore no-explicit-any
    (self as any).postMessage(ms);
  };
}
const runs = Number(Deno.args[0] ?? 5);
const HEAVY =
  "select count(*) from generate_series(1, 100000000) a, generate_series(1, 100000000) b";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.floor(sorted.length / 2)]);
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

const main = (globalThis as { name?: string }).name !== "open";
const dataDir = main ? await Deno.makeTempDir({ prefix: "labgate-restart-bench-" }) : "";
const report: Record<string, number> = {};
if (main) await bench();

async function bench(): Promise<void> {
  try {
    // 1. The whole restart, as the app sees it.
    const client = await PgliteClient.open({ dataDir, log: () => {} });
    await client.exec("create table t (x int); insert into t select generate_series(1, 100000)");
    const whole: number[] = [];
    for (let i = 0; i < runs; i++) {
      const owner = {};
      const running = client.execProtocolRaw(query(HEAVY), { preemptible: true, owner });
      running.catch(() => {});
      while (!client.interrupt(owner, new StatementStopped("bench", { restarted: true }))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      whole.push(await time(() => client.query("select 1")));
    }
    report["whole restart (stop → next answer)"] = median(whole);
    await client.close();

    // 2. A thread loading the worker module (answers a close with nothing open).
    const worker: number[] = [];
    for (let i = 0; i < runs; i++) {
      worker.push(
        await time(async () => {
          const w = new Worker(new URL("../src/db/pglite_worker.ts", import.meta.url), {
            type: "module",
          });
          await new Promise((resolve) => {
            w.onmessage = resolve;
            w.postMessage({ id: 1, op: "close" });
          });
          w.terminate();
        }),
      );
    }
    report["new thread, module loaded"] = median(worker);

    // 3. PGlite opening the data directory, left by a killed thread each time.
    const base = import.meta.resolve("@electric-sql/pglite");
    let wasmBytes: ArrayBuffer | undefined;
    report["read pglite.wasm"] = median(
      [
        await time(async () =>
          wasmBytes = await (await fetch(new URL("./pglite.wasm", base))).arrayBuffer()
        ),
      ],
    );
    let module: WebAssembly.Module | undefined;
    report["compile pglite.wasm (once per process)"] = median(
      [await time(async () => module = await WebAssembly.compile(wasmBytes!))],
    );
    let bundle: Blob | undefined;
    report["read pglite.data (fs bundle)"] = median(
      [await time(async () => bundle = await (await fetch(new URL("./pglite.data", base))).blob())],
    );
    const variants: [string, Record<string, unknown>][] = [
      ["PGlite open, WASM compiled anew", {}],
      ["PGlite open, compiled WASM passed (labgate)", { pgliteWasmModule: module }],
      ["PGlite open, compiled WASM and fs bundle passed", {
        pgliteWasmModule: module,
        fsBundle: bundle,
      }],
    ];
    for (const [name, options] of variants) {
      const opens: number[] = [];
      for (let i = 0; i < runs; i++) {
        // In a thread of its own, terminated after a write: the next open recovers, as in labgate.
        const w = new Worker(import.meta.url, { type: "module", name: "open" });
        const ms = await new Promise<number>((resolve) => {
          w.onmessage = (event) => resolve(event.data);
          w.postMessage({ dataDir, ...options });
        });
        w.terminate();
        opens.push(ms);
      }
      report[name] = median(opens);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
  for (const [name, ms] of Object.entries(report)) console.log(`${name.padEnd(50)} ${ms} ms`);
  console.log(
    `(median of ${runs}; load average ${Deno.loadavg().map((l) => l.toFixed(1)).join(" ")})`,
  );
  Deno.exit(0);
}
