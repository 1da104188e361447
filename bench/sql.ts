/**
 * SQL door throughput: a pgbench-style primary-key select on a 100k-row list
 * at 1, 16 and 64 clients against PostgreSQL directly, PgBouncer in
 * transaction mode and labgate's SQL door, all on the same database.
 * Targets (issue 15): ≥ 0.9× direct at 1 client, ≥ 1.0× direct at 16, and
 * ≥ 2× PgBouncer at 64 (where direct PostgreSQL may refuse connections).
 */
import {
  type Context,
  cpuSeconds,
  describe,
  directTarget,
  doorTarget,
  type Figures,
  pgbench,
  pkSelectScript,
  startPgbouncer,
  type Workload,
} from "./_support/mod.ts";
import { sqlDoorSettings } from "../src/doors/sql/settings.ts";

/** Ratio targets by reference and client count; other counts are reported only. */
const TARGETS: Record<"PostgreSQL" | "PgBouncer", Record<number, number>> = {
  PostgreSQL: { 1: 0.9, 16: 1.0 },
  PgBouncer: { 16: 1.0, 64: 2.0 },
};

export const sqlWorkload: Workload = {
  name: "sql",
  title: "SQL door: primary-key select, direct vs PgBouncer vs labgate",
  run: async (ctx: Context) => {
    const fixture = await ctx.fixture();
    // PgBouncer gets as many server connections as labgate's door opens.
    const { backendConnections } = await fixture.svc.settings.get(sqlDoorSettings);
    const bouncer = await startPgbouncer(fixture, backendConnections);
    const labgate = await ctx.labgate("sql").catch(async (error) => {
      await bouncer.stop();
      throw error;
    });
    try {
      const targets = [
        [directTarget(fixture), fixture.accountsTable],
        [bouncer.target, fixture.accountsTable],
        [doorTarget(labgate), "lists.accounts"],
      ] as const;
      for (const clients of ctx.sqlClients) {
        const count = `${clients} client${clients === 1 ? "" : "s"}`;
        // Each target's time is split into rounds taken in turn, so a machine that speeds
        // up or slows down during the run (a shared host) weighs on every target alike.
        const rounds: Record<string, (Figures | undefined)[]> = {};
        // The two proxies' own CPU per transaction: steadier than rates on a shared machine.
        const proxyPids: Record<string, number> = { labgate: labgate.pid, PgBouncer: bouncer.pid };
        const proxyCpuUs: Record<string, number[]> = {};
        const failed = new Set<string>();
        for (let round = 0; round < ctx.rounds; round++) {
          for (const [target, table] of targets) {
            const runs = rounds[target.name] ??= [];
            if (failed.has(target.name)) continue;
            try {
              const pid = proxyPids[target.name];
              const cpuBefore = pid ? await cpuSeconds(pid) : 0;
              const run = runs[round] = await pgbench(target, pkSelectScript(table), {
                clients,
                seconds: Math.max(2, Math.round(ctx.seconds / ctx.rounds)),
                mode: ctx.mode,
              });
              if (pid) {
                (proxyCpuUs[target.name] ??= [])
                  .push((await cpuSeconds(pid) - cpuBefore) * 1e6 / run.count);
              }
            } catch (error) {
              // e.g. PostgreSQL's max_connections reached by 64 direct clients on a shared server
              ctx.report.note(`sql: ${target.name}, ${count}: ${firstLines(error)}`);
              failed.add(target.name);
            }
          }
        }
        const figures: Record<string, Figures> = {};
        for (const [target] of targets) {
          const runs = rounds[target.name].filter((f) => f !== undefined);
          if (!runs.length) continue;
          const f = figures[target.name] = combine(runs);
          const cpu = proxyCpuUs[target.name];
          ctx.report.measure("sql", `${target.name}, ${count}`, {
            tps: f.rate,
            p50Ms: f.p50Ms,
            p99Ms: f.p99Ms,
            errors: f.errors,
            ...(cpu?.length ? { proxyCpuUsPerTx: median(cpu) } : {}),
          });
          // pgbench's own words, so that errors say what they were.
          if (f.errors && f.detail) ctx.report.note(`sql: ${target.name}, ${count}: ${f.detail}`);
        }
        const door = figures.labgate;
        for (const against of ["PostgreSQL", "PgBouncer"] as const) {
          const target = TARGETS[against][clients];
          if (!door || !figures[against]) continue;
          // The median of the rounds' ratios: each compares runs taken side by side.
          const ratios = rounds.labgate.flatMap((f, round) => {
            const other = rounds[against][round];
            return f && other ? [f.rate / other.rate] : [];
          });
          ctx.report.compare({
            workload: "sql",
            figure: `labgate, ${count}`,
            value: describe(door, "tps"),
            against: `${against}: ${describe(figures[against], "tps")}`,
            ratio: median(ratios),
            target: target === undefined ? undefined : { op: ">=", value: target },
          });
          ctx.report.note(
            `sql: labgate / ${against}, ${count}, by round: ${
              ratios.map((r) => r.toFixed(2)).join(", ")
            }`,
          );
        }
      }
    } finally {
      await bouncer.stop();
      await ctx.stop("sql", labgate);
    }
  },
};

/** The rounds of one target as one figure: transactions summed, rates and latencies their medians. */
function combine(runs: Figures[]): Figures {
  return {
    rate: median(runs.map((f) => f.rate)),
    count: runs.reduce((sum, f) => sum + f.count, 0),
    p50Ms: median(runs.map((f) => f.p50Ms)),
    p99Ms: median(runs.map((f) => f.p99Ms)),
    errors: runs.reduce((sum, f) => sum + f.errors, 0),
    detail: runs.find((f) => f.detail)?.detail,
  };
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function firstLines(error: unknown): string {
  return String((error as Error).message ?? error).split("\n").filter((l) => /error|FATAL/i.test(l))
    .slice(0, 2).join(" / ");
}
