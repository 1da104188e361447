/**
 * Two labgate instances on one PostgreSQL database behind a round-robin:
 * wrk's threads alternate between the instances (HTTP selectRows with an API
 * key), and two pgbench processes share the SQL door clients between them.
 * Throughput of two over one; on a machine whose cores are already busy
 * (load generator, PostgreSQL and labgate share them) expect about 1×.
 */
import {
  type Context,
  describe,
  doorTarget,
  type Figures,
  type Labgate,
  labgateTargets,
  pgbench,
  pkSelectScript,
  type Workload,
  wrk,
} from "./_support/mod.ts";

const CLIENTS = 16;

export const instancesWorkload: Workload = {
  name: "instances",
  title: "Two instances behind a round-robin: throughput of one vs two",
  run: async (ctx: Context) => {
    const fixture = await ctx.fixture();
    const instances: Labgate[] = [];
    try {
      for (const name of ["instance-a", "instance-b"]) instances.push(await ctx.labgate(name));
      const [selectRows] = labgateTargets(fixture);
      const http = (group: Labgate[]) =>
        wrk({
          bases: group.map((l) => l.base),
          targets: [selectRows],
          connections: ctx.connections,
          seconds: ctx.seconds,
        });
      // One pgbench per instance, each with its share of the clients, at the same time.
      const door = async (group: Labgate[]): Promise<Figures> => {
        const runs = await Promise.all(
          group.map((l) =>
            pgbench(doorTarget(l), pkSelectScript("lists.accounts"), {
              clients: CLIENTS / group.length,
              seconds: ctx.seconds,
              mode: ctx.mode,
            })
          ),
        );
        return {
          rate: runs.reduce((sum, r) => sum + r.rate, 0),
          count: runs.reduce((sum, r) => sum + r.count, 0),
          p50Ms: Math.max(...runs.map((r) => r.p50Ms)),
          p99Ms: Math.max(...runs.map((r) => r.p99Ms)),
          errors: runs.reduce((sum, r) => sum + r.errors, 0),
        };
      };
      for (
        const [name, unit, run] of [
          [`${selectRows.name}, ${ctx.connections} connections`, "req/s", http],
          [`SQL door select, ${CLIENTS} clients`, "tps", door],
        ] as const
      ) {
        const one = await run(instances.slice(0, 1));
        const two = await run(instances);
        for (const [count, f] of [["one", one], ["two", two]] as const) {
          ctx.report.measure("instances", `${name}, ${count}`, {
            perSecond: f.rate,
            p50Ms: f.p50Ms,
            p99Ms: f.p99Ms,
            errors: f.errors,
          });
        }
        ctx.report.compare({
          workload: "instances",
          figure: `${name}, two instances`,
          value: describe(two, unit),
          against: `one: ${describe(one, unit)}`,
          ratio: two.rate / one.rate,
        });
      }
    } finally {
      for (const [i, labgate] of instances.entries()) {
        await ctx.stop(`instance-${"ab"[i]}`, labgate);
      }
    }
  },
};
