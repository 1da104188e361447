/** The results table: figures, comparisons with their targets, notes, and the machine they were taken on. */
import pg from "pg";

export interface Figures {
  /** Requests (or transactions, or connections) per second. */
  rate: number;
  /** How many were done. */
  count: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** pgbench: how long its clients took to connect (not part of `rate`). */
  connectMs?: number;
  /** The load generator's own words when something went wrong. */
  detail?: string;
}

/** One row of the summary: a figure, what it is compared with, and the target. */
interface Comparison {
  workload: string;
  figure: string;
  value: string;
  against: string;
  ratio: number;
  /** e.g. ">= 0.8"; absent when the issue sets none (the ratio is reported only). */
  target?: { op: ">=" | "<="; value: number };
}

export class Report {
  readonly started = new Date();
  readonly measurements: ({ workload: string; name: string } & Record<string, unknown>)[] = [];
  readonly comparisons: Comparison[] = [];
  readonly notes: string[] = [];
  /** Workloads that stopped with an error. */
  readonly failed: string[] = [];

  /** Records and prints one raw measurement as soon as it is taken. */
  measure(workload: string, name: string, figures: Record<string, unknown>): void {
    this.measurements.push({ workload, name, ...figures });
    const text = Object.entries(figures).map(([k, v]) =>
      `${k}=${typeof v === "number" ? round(v) : v}`
    ).join(" ");
    console.log(`  ${workload}: ${name}: ${text}`);
  }

  compare(comparison: Comparison): void {
    this.comparisons.push(comparison);
  }

  note(text: string): void {
    this.notes.push(text);
    console.log(text);
  }

  /** The summary as a Markdown table (printed and written to bench/results/). */
  table(): string {
    const rows = this.comparisons.map((c) => [
      c.workload,
      c.figure,
      c.value,
      c.against,
      `${c.ratio.toFixed(2)}×`,
      c.target ? `${c.target.op} ${c.target.value}` : "—",
      met(c) === undefined ? "report" : met(c) ? "met" : "MISSED",
    ]);
    const header = ["workload", "figure", "value", "compared with", "ratio", "target", ""];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
      `| ${
        cells.map((cell, i) => i >= 4 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])).join(
          " | ",
        )
      } |`;
    return [
      line(header),
      `|${widths.map((w, i) => "-".repeat(w + 1) + (i >= 4 ? ":" : "-")).join("|")}|`,
      ...rows.map(line),
    ].join("\n");
  }

  /** Writes bench/results/<kind>-<time>.json and .md; returns the Markdown path. */
  async write(kind: string, machine: Record<string, unknown>): Promise<string> {
    const dir = new URL("../results/", import.meta.url).pathname;
    await Deno.mkdir(dir, { recursive: true });
    const stem = `${dir}${kind}-${this.started.toISOString().replaceAll(":", "-").slice(0, 19)}`;
    await Deno.writeTextFile(
      `${stem}.json`,
      JSON.stringify(
        {
          started: this.started,
          machine,
          measurements: this.measurements,
          comparisons: this.comparisons.map((c) => ({ ...c, met: met(c) })),
          notes: this.notes,
        },
        null,
        2,
      ),
    );
    const header = Object.entries(machine).map(([k, v]) => `${k}: ${v}`).join(", ");
    await Deno.writeTextFile(
      `${stem}.md`,
      [
        `${this.started.toISOString()} — ${header}`,
        this.table(),
        "Measurements:\n\n" +
        this.measurements.map(({ workload, name, ...figures }) =>
          `- ${workload}: ${name}: ${
            Object.entries(figures).map(([k, v]) => `${k}=${typeof v === "number" ? round(v) : v}`)
              .join(" ")
          }`
        ).join("\n"),
        ...this.notes.map((note) => "```\n" + note + "\n```"),
      ].join("\n\n") + "\n",
    );
    return `${stem}.md`;
  }
}

export function met(c: Comparison): boolean | undefined {
  if (!c.target) return undefined;
  return c.target.op === ">=" ? c.ratio >= c.target.value : c.ratio <= c.target.value;
}

export function round(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2);
}

/** "12345 tps, p50 1.20 ms, p99 3.40 ms" */
export function describe(f: Figures, unit: string): string {
  return `${round(f.rate)} ${unit}, p50 ${round(f.p50Ms)} ms, p99 ${round(f.p99Ms)} ms`;
}

/** Cores, CPU, OS, Deno and PostgreSQL versions: the header of every result. */
export async function machine(server: string): Promise<Record<string, unknown>> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/model name\s*:\s*(.*)/)?.[1];
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  const { rows } = await client.query("show server_version");
  await client.end();
  return {
    cores: navigator.hardwareConcurrency,
    cpu: cpu ?? "unknown",
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    postgresql: rows[0].server_version,
  };
}
