/**
 * SQL door throughput: a pgbench-style primary-key select on a 100k-row list
 * at 1, 16 and 64 clients against PostgreSQL directly, PgBouncer in
 * transaction mode and labgate's SQL door, all on the same database.
 * Targets at 16 clients: labgate ≥ 0.8× direct and ≥ 1.0× PgBouncer.
 */
import {
  type Context,
  describe,
  directTarget,
  doorTarget,
  type Figures,
  pgbench,
  pkSelectScript,
  startPgbouncer,
  type Workload,
} from "./_support.ts";
import { sqlDoorSettings } from "../src/sql_door/settings.ts";

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
      for (const clients of ctx.sqlClients) {
        const count = `${clients} client${clients === 1 ? "" : "s"}`;
        const figures: Record<string, Figures> = {};
        for (
          const [target, table] of [
            [directTarget(fixture), fixture.accountsTable],
            [bouncer.target, fixture.accountsTable],
            [doorTarget(labgate), "lists.accounts"],
          ] as const
        ) {
          let f: Figures;
          try {
            f = await pgbench(target, pkSelectScript(table), {
              clients,
              seconds: ctx.seconds,
              mode: ctx.mode,
            });
          } catch (error) {
            // e.g. PostgreSQL's max_connections reached by 64 direct clients on a shared server
            ctx.report.note(`sql: ${target.name}, ${count}: ${firstLines(error)}`);
            continue;
          }
          figures[target.name] = f;
          ctx.report.measure("sql", `${target.name}, ${count}`, {
            tps: f.rate,
            p50Ms: f.p50Ms,
            p99Ms: f.p99Ms,
            errors: f.errors,
          });
        }
        const door = figures.labgate;
        for (const [against, target] of [["PostgreSQL", 0.8], ["PgBouncer", 1.0]] as const) {
          if (!door || !figures[against]) continue;
          ctx.report.compare({
            workload: "sql",
            figure: `labgate, ${count}`,
            value: describe(door, "tps"),
            against: `${against}: ${describe(figures[against], "tps")}`,
            ratio: door.rate / figures[against].rate,
            target: clients === 16 ? { op: ">=", value: target } : undefined,
          });
        }
      }
    } finally {
      await bouncer.stop();
      await ctx.stop("sql", labgate);
    }
  },
};

function firstLines(error: unknown): string {
  return String((error as Error).message ?? error).split("\n").filter((l) => /error|FATAL/i.test(l))
    .slice(0, 2).join(" / ");
}
