/** wrk against labgate's HTTP doors, and the warm-up every workload's labgate gets first. */
import { type Fixture, FOLDER } from "./fixture.ts";
import type { Labgate } from "./labgate.ts";
import { doorTarget, pgbench, pkSelectScript } from "./pgbench.ts";
import type { Figures } from "./report.ts";

const decoder = new TextDecoder();

interface HttpTarget {
  name: string;
  /** Path and query, requested on every base URL given to wrk(). */
  path: string;
  headers: Record<string, string>;
}

interface WrkOptions {
  connections: number;
  seconds: number;
  /** Base URLs spread over wrk's threads (a round-robin over instances); one is the usual. */
  bases: string[];
  /** Several targets are requested in turn (the soak's mix). */
  targets: HttpTarget[];
  /** Each connection waits this long between requests (holding load instead of maximum load). */
  delayMs?: number;
}

/** wrk with a generated Lua script: headers, per-thread instance, request mix and pacing. */
export async function wrk(options: WrkOptions): Promise<Figures> {
  const dir = await Deno.makeTempDir({ prefix: "labgate-wrk-" });
  try {
    const bases = options.bases.map((b) => new URL(b));
    const threads = Math.max(2, bases.length);
    const lua = [
      `local hosts = {${bases.map((b) => `{${JSON.stringify(b.hostname)}, "${b.port}"}`)}}`,
      "local n = 0",
      // wrk runs setup() once per thread before it starts: thread i talks to instance i mod N.
      "function setup(thread)",
      "  n = n + 1",
      "  local h = hosts[(n - 1) % #hosts + 1]",
      "  thread.addr = wrk.lookup(h[1], h[2])[1]",
      "end",
      "local requests = {}",
      "local turn = 0",
      "function init(args)",
      ...options.targets.map((t) =>
        `  table.insert(requests, wrk.format("GET", ${JSON.stringify(t.path)}, {${
          Object.entries(t.headers).map(([k, v]) => `[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
            .join(", ")
        }}))`
      ),
      "end",
      "function request()",
      "  turn = turn % #requests + 1",
      "  return requests[turn]",
      "end",
      ...(options.delayMs ? [`function delay() return ${options.delayMs} end`] : []),
    ].join("\n");
    await Deno.writeTextFile(`${dir}/bench.lua`, lua);
    const out = await new Deno.Command("wrk", {
      args: [
        `-t${threads}`,
        `-c${Math.max(threads, options.connections)}`,
        `-d${options.seconds}s`,
        "--timeout",
        "10s",
        "--latency",
        "-s",
        `${dir}/bench.lua`,
        options.bases[0],
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = decoder.decode(out.stdout);
    if (!out.success) throw new Error(`wrk failed: ${decoder.decode(out.stderr)}`);
    const ms = (label: string) => {
      const match = text.match(new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, "m"));
      if (!match) return NaN;
      return Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as "us" | "ms" | "s"];
    };
    const socket = text.match(
      /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
    );
    const errors = Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0) +
      (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
    return {
      rate: Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN),
      count: Number(text.match(/(\d+) requests in/)?.[1] ?? NaN),
      p50Ms: ms("50"),
      p99Ms: ms("99"),
      errors,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A few seconds of every kind of request, unrecorded, so measurements see a
 * warm JIT, pools and caches rather than the first seconds of a new process.
 */
export async function warmUp(fixture: Fixture, labgate: Labgate): Promise<void> {
  const targets = labgateTargets(fixture);
  for (const target of targets) await checkHttp(labgate.base, target);
  await Promise.all([
    wrk({ bases: [labgate.base], targets, connections: 8, seconds: 3 }),
    pgbench(doorTarget(labgate), pkSelectScript("lists.accounts"), {
      clients: 4,
      seconds: 3,
      mode: "extended",
    }),
  ]);
}

/** Fails loudly when a target does not answer 200 before it is measured. */
export async function checkHttp(base: string, target: HttpTarget): Promise<void> {
  const response = await fetch(base + target.path, { headers: target.headers });
  const body = await response.text();
  if (!response.ok || body.includes('success="false"')) {
    throw new Error(`${target.name}: ${response.status} ${body.slice(0, 300)}`);
  }
}

/** The three labgate endpoints the HTTP workloads measure, with the fixture's credentials. */
export function labgateTargets(fixture: Fixture): HttpTarget[] {
  const selectRows =
    `${FOLDER}/query-selectRows.api?schemaName=lists&query.queryName=samples&query.maxRows=100`;
  return [
    {
      name: "selectRows, API key",
      path: selectRows,
      headers: { Authorization: `Basic ${btoa(`apikey:${fixture.apiKey}`)}` },
    },
    {
      name: "selectRows, token",
      path: selectRows,
      headers: { Authorization: `Token ${fixture.token}` },
    },
    {
      name: "verifyToken.view",
      path: `/login${FOLDER}/verifyToken.view?labkeyToken=${fixture.remoteToken}`,
      headers: {},
    },
  ];
}
