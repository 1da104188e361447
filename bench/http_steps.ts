/**
 * Where a selectRows request's time goes, step by step, in one process (no
 * wrk, no sockets): the whole request through the app, the bare Hono
 * handler's, and each step of labgate's alone, as µs per call (median of
 * rounds). `deno run -A bench/http_steps.ts [--rounds 7] [--calls 300]`.
 */
import { parseArgs } from "node:util";
import { Hono } from "hono";
import { sql } from "kysely";
import { resolveActor } from "../src/app/credentials.ts";
import type { Actor } from "../src/core/actor.ts";
import { actorBits } from "../src/core/in_flight.ts";
import { getList } from "../src/data/lists.ts";
import { selectRows } from "../src/data/rows.ts";
import { rowsResponse } from "../src/doors/labkey/responses.ts";
import { sqlDoorSettings, statementTimeoutMs } from "../src/doors/sql/settings.ts";
import { createApp } from "../routes/mod.ts";
import { queryActions } from "../routes/labkey/query.ts";
import { LabKeyParams } from "../src/doors/labkey/request.ts";
import { createFixture, DEFAULT_SERVER, FOLDER } from "./_support/fixture.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "7" },
    calls: { type: "string", default: "300" },
    /** Only the steps whose name starts with this (e.g. under --cpu-prof). */
    only: { type: "string", default: "" },
  },
});
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);

/** This process's CPU time in µs, all threads (the scheduler's ns counters: finer than clock ticks). */
function cpuUs(): number {
  let ns = 0;
  for (const task of Deno.readDirSync("/proc/self/task")) {
    ns += Number(Deno.readTextFileSync(`/proc/self/task/${task.name}/schedstat`).split(" ")[0]);
  }
  return ns / 1000;
}

const fixture = await createFixture(DEFAULT_SERVER);
const { svc } = fixture;
try {
  const app = createApp(svc);
  const bare = new Hono();
  const bareQuery = sql.raw(
    `select * from ${fixture.samplesTable} order by ${fixture.samplesKey} limit 100`,
  );
  bare.get("/rows", async (c) => {
    const { rows } = await bareQuery.execute(fixture.database.root);
    return c.json({ rows, rowCount: rows.length });
  });
  const path =
    `${FOLDER}/query-selectRows.api?schemaName=lists&query.queryName=samples&query.maxRows=100`;
  const keyHeaders = { Authorization: `Basic ${btoa(`apikey:${fixture.apiKey}`)}` };
  const tokenHeaders = { Authorization: `Token ${fixture.token}` };
  const request = async (headers: Record<string, string>, url = path) => {
    const response = await app.fetch(
      new Request(`http://127.0.0.1${url}`, { headers }),
      { clientAddr: "127.0.0.1" },
    );
    if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`);
    await response.arrayBuffer();
  };
  const presented = (headers: Record<string, string>) => ({
    headers: new Headers(headers),
    cookies: {},
    url: new URL(`http://127.0.0.1${path}`),
    clientAddr: "127.0.0.1",
    door: "api" as const,
    method: "GET",
  });
  const actor = (await resolveActor(svc, presented(keyHeaders))) as Actor;
  const def = await getList(svc, actor, FOLDER, "samples");
  const result = await selectRows(svc, actor, def, { limit: 100 });
  const respond = () =>
    rowsResponse({
      schemaName: "lists",
      queryName: "samples",
      fields: [],
      rows: result.rows,
      rowCount: result.total,
    }, 8.3);
  const body = respond();
  /** One of the entries a request writes. */
  const record = () =>
    svc.audit.record({
      door: "key",
      event: "bench.step",
      outcome: "ok",
      userId: actor.userId,
      credential: null,
      clientAddr: "127.0.0.1",
    });
  const labgateSql = `select "id"::text as "id", "name"::text as "name", "weight"::text as "weight"
    from ${fixture.samplesTable} order by ${fixture.samplesTable}.id asc limit 100 offset 0`;

  /** Name, step, and how many requests' worth one call of it is. */
  const steps: [string, () => unknown, number?][] = [
    ["whole request, API key (app.fetch)", () => request(keyHeaders)],
    ["whole request, token (app.fetch)", () => request(tokenHeaders)],
    [
      "whole request without a query: getSchemas, API key",
      () => request(keyHeaders, `${FOLDER}/query-getSchemas.api`),
    ],
    [
      "whole request, API key, maxRows=1",
      () => request(keyHeaders, path.replace("maxRows=100", "maxRows=1")),
    ],
    [
      "whole request, API key, includeTotalCount=false",
      () => request(keyHeaders, `${path}&includeTotalCount=false`),
    ],
    ["selectRows action alone", () =>
      queryActions["query-selectRows"]({
        c: undefined as never,
        svc,
        actor,
        params: new LabKeyParams([...new URL(`http://x${path}`).searchParams]),
        containerPath: FOLDER,
      })],
    ["bare Hono handler (app.fetch)", async () => {
      await (await bare.fetch(new Request("http://127.0.0.1/rows"))).arrayBuffer();
    }],
    ["credential: API key (resolveActor)", () => resolveActor(svc, presented(keyHeaders))],
    ["credential: token (resolveActor)", () => resolveActor(svc, presented(tokenHeaders))],
    ["list lookup (getList)", () => getList(svc, actor, FOLDER, "samples")],
    ["permission (actorBits)", () => actorBits(svc, actor, def.container.id)],
    [
      "statement timeout (settings)",
      async () => statementTimeoutMs(await svc.settings.get(sqlDoorSettings), actor),
    ],
    ["selectRows (build, query, shape)", () => selectRows(svc, actor, def, { limit: 100 })],
    ["selectRows under the time limit (limited pool)", async () =>
      selectRows(svc, actor, def, {
        limit: 100,
        timeoutMs: statementTimeoutMs(await svc.settings.get(sqlDoorSettings), actor),
      })],
    ["its query alone (root pool)", () => sql.raw(labgateSql).execute(fixture.database.root)],
    ["bare query alone (root pool)", () => bareQuery.execute(fixture.database.root)],
    ["rowsResponse (8.3)", respond],
    ["JSON.stringify of the body", () => JSON.stringify(body)],
    ["audit.record", record],
    ["audit: a request's two records, written in a batch of 200", async () => {
      for (let i = 0; i < 200; i++) record();
      await svc.audit.flush();
    }, 100],
  ];
  const chosen = steps.filter(([name]) => name.startsWith(values.only));
  const figures = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, step, per = 1] of chosen) {
      for (let i = 0; i < 20; i++) await step();
      const started = performance.now();
      const cpuStarted = cpuUs();
      for (let i = 0; i < CALLS; i++) await step();
      const calls = CALLS * per;
      cpu.set(name, [...cpu.get(name) ?? [], (cpuUs() - cpuStarted) / calls]);
      figures.set(name, [...figures.get(name) ?? [], (performance.now() - started) * 1000 / calls]);
    }
    await svc.audit.flush();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`| step (median of ${ROUNDS} rounds of ${CALLS}) | wall µs | CPU µs, this process |`);
  console.log("| --- | ---: | ---: |");
  for (const [name] of chosen) {
    const [wall, own] = [figures, cpu].map((f) => median(f.get(name)!).toFixed(1));
    console.log(`| ${name} | ${wall} | ${own} |`);
  }
} finally {
  await fixture.dispose();
}
