/**
 * HTTP: labgate's remote-login verify and LabKey selectRows (API key, auth
 * token) against a bare Hono handler in the same runtime doing the same
 * physical read (100 rows of the 1000-row list), all driven by wrk.
 * Target: each labgate endpoint ≥ 0.5× the bare handler.
 */
import { Hono } from "hono";
import { sql } from "kysely";
import {
  checkHttp,
  type Context,
  describe,
  type Figures,
  type Fixture,
  labgateTargets,
  round,
  withCpuCost,
  type Workload,
  wrk,
} from "./_support/mod.ts";

/** The bare handler: one query and JSON, nothing else, served from this process. */
function startBareHono(fixture: Fixture): { base: string; stop(): Promise<void> } {
  const app = new Hono();
  const query = sql.raw(
    `select * from ${fixture.samplesTable} order by ${fixture.samplesKey} limit 100`,
  );
  app.get("/rows", async (c) => {
    const { rows } = await query.execute(fixture.database.root);
    return c.json({ rows, rowCount: rows.length });
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return { base: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

export const httpWorkload: Workload = {
  name: "http",
  title: "HTTP: verifyToken.view and selectRows vs a bare Hono handler",
  run: async (ctx: Context) => {
    const fixture = await ctx.fixture();
    const bare = startBareHono(fixture);
    const labgate = await ctx.labgate("http").catch(async (error) => {
      await bare.stop();
      throw error;
    });
    try {
      const bareTarget = { name: "bare Hono", path: "/rows", headers: {} };
      await checkHttp(bare.base, bareTarget);
      const measure = (base: string, pid: number, target: typeof bareTarget) =>
        withCpuCost(fixture, pid, () =>
          wrk({
            bases: [base],
            targets: [target],
            connections: ctx.connections,
            seconds: ctx.seconds,
          })).then((f) => {
            ctx.report.measure("http", target.name, {
              rps: f.rate,
              cpuUsPerRequest: f.cpuUsPerRequest,
              p50Ms: f.p50Ms,
              p99Ms: f.p99Ms,
              errors: f.errors,
            });
            return f;
          });
      const value = (f: Figures & { cpuUsPerRequest: number }) =>
        `${describe(f, "req/s")}, ${round(f.cpuUsPerRequest)} µs CPU/req`;
      // The bare handler runs in this process.
      const bareFigures = await measure(bare.base, Deno.pid, bareTarget);
      for (const target of labgateTargets(fixture)) {
        await checkHttp(labgate.base, target);
        const f = await measure(labgate.base, labgate.pid, target);
        ctx.report.compare({
          workload: "http",
          figure: target.name,
          value: value(f),
          against: `bare Hono: ${value(bareFigures)}`,
          ratio: f.rate / bareFigures.rate,
          target: { op: ">=", value: 0.9 },
        });
      }
    } finally {
      await bare.stop();
      await ctx.stop("http", labgate);
    }
  },
};
