/**
 * Where a SQL-door statement's CPU goes, step by step: labgate as deployed
 * (main.ts, with V8's perf map), pgbench's primary-key select at 1 and 16
 * clients, and `perf record` on labgate's threads meanwhile. Each sample
 * counts for the nearest labgate function on its stack, so the kernel's and
 * the runtime's work counts for the step that asked for it (a socket send
 * for the send); samples with no labgate frame are the event loop, V8 and
 * GC, or the kernel's own (scheduling, interrupts). perf counts CPU time
 * only: a V8 CPU profile samples wall-clock time, so a thread descheduled
 * inside a send (the woken client runs on its core) counts there as send.
 *
 *   deno run -A bench/sql_steps.ts [--seconds 6] [--clients 1,16] [--postgres URL]
 *
 * Needs `perf` (Debian linux-perf). Prints µs of labgate CPU per statement.
 */
import { parseArgs } from "node:util";
import {
  createFixture,
  DEFAULT_SERVER,
  doorTarget,
  pgbench,
  pkSelectScript,
  startLabgate,
  warmUp,
} from "./_support/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "6" },
    clients: { type: "string", default: "1,16" },
    postgres: { type: "string", default: DEFAULT_SERVER },
    "door-threads": { type: "string", default: String(navigator.hardwareConcurrency) },
  },
});
const FREQUENCY = 4000;

/** Steps by the nearest labgate frame, as "path function"; the first pattern that matches. */
const STEPS: [RegExp, string][] = [
  [/^wire\/protocol\/transport\.ts (read|readExactly)$/, "read (client socket)"],
  [/^wire\/protocol\/transport\.ts /, "write (client socket)"],
  [/^wire\/protocol\//, "decode and encode messages"],
  [/^wire\/(session|session_state)\.ts /, "dispatch"],
  [/^wire\/(session_messages|session_statements|column_names)\.ts /, "statement cache and checks"],
  [/^(wire\/sandbox\.ts|src\/sql\/)/, "analyse (SQL sandbox)"],
  [/^wire\/(session_leases|pin_shares|revocation|session_login|auth)\.ts /, "lease, shares"],
  [/^wire\/backend\//, "forward and read (backend sockets)"],
  [/^wire\/pipeline\.ts /, "relay replies"],
  [/^src\/audit\//, "audit"],
  [/^src\/ops\//, "metrics"],
  [/^src\/db\//, "app database driver (audit COPY, watches)"],
];
const LABGATE_FRAME = /JS:.'(.*?) file:\/\/\S*?\/((?:wire|src|routes)\/\S+?):\d+:\d+/;

/** perf script's samples: the step of each, by the nearest labgate frame. */
function stepsOf(script: string): Map<string, number> {
  const steps = new Map<string, number>();
  for (const sample of script.split("\n\n")) {
    const frames = sample.split("\n").slice(1).filter((line) => line.trim());
    if (!frames.length) continue;
    let step: string | undefined;
    for (const frame of frames) {
      const found = LABGATE_FRAME.exec(frame);
      if (!found) continue;
      const where = `${found[2]} ${found[1]}`;
      step = STEPS.find(([pattern]) => pattern.test(where))?.[1] ?? `other: ${found[2]}`;
      break;
    }
    step ??= frames[0].includes("[kernel.kallsyms]")
      ? "kernel, no labgate frame (scheduling, interrupts)"
      : "runtime, no labgate frame (event loop, V8, GC)";
    steps.set(step, (steps.get(step) ?? 0) + 1);
  }
  return steps;
}

const fixture = await createFixture(values.postgres);
const labgate = await startLabgate({
  DATABASE_URL: fixture.url,
  LABGATE_SQL_DOOR_THREADS: values["door-threads"],
  DENO_V8_FLAGS: "--perf-basic-prof,--interpreted-frames-native-stack",
});
try {
  await warmUp(fixture, labgate);
  const data = await Deno.makeTempFile({ prefix: "labgate-perf-" });
  for (const clients of values.clients.split(",").map(Number)) {
    const seconds = Number(values.seconds);
    const perf = new Deno.Command("perf", {
      args: ["record", "-F", String(FREQUENCY), "-g", "-p", String(labgate.pid), "-o", data],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const perfErrors = new Response(perf.stderr).text();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const figures = await pgbench(doorTarget(labgate), pkSelectScript("lists.accounts"), {
      clients,
      seconds,
      mode: "extended",
    });
    try {
      perf.kill("SIGINT");
    } catch {
      throw new Error(`perf record ended early: ${await perfErrors}`);
    }
    await perf.status;
    await perfErrors;
    const script = await new Deno.Command("perf", {
      args: ["script", "-i", data],
      stdout: "piped",
      stderr: "null",
    }).output();
    const steps = stepsOf(new TextDecoder().decode(script.stdout));
    const samples = [...steps.values()].reduce((a, b) => a + b, 0);
    const usPerStatement = (count: number) => count * 1e6 / FREQUENCY / figures.count;
    console.log(
      `\n${clients} client(s): ${Math.round(figures.rate)} tps, ${
        usPerStatement(samples).toFixed(1)
      } µs of labgate CPU per statement (perf from 0.3 s before pgbench to its end)`,
    );
    console.log("| step | µs per statement | share |\n| --- | ---: | ---: |");
    for (const [step, count] of [...steps].sort((a, b) => b[1] - a[1])) {
      console.log(
        `| ${step} | ${usPerStatement(count).toFixed(1)} | ${
          (100 * count / samples).toFixed(1)
        } % |`,
      );
    }
  }
  await Deno.remove(data);
} finally {
  await labgate.stop();
  await fixture.dispose();
  await Deno.remove(`/tmp/perf-${labgate.pid}.map`).catch(() => {});
}
