/**
 * Scale curve: the HTTP endpoints and the SQL door's primary-key select with
 * 100 (1×), 1,000 (10×) and 10,000 (100×) extra users, folders, role
 * assignments, sessions, API keys, auth tokens and remote-login tokens in the
 * database, seeded by bulk SQL. Cost per request — CPU seconds of labgate and
 * of the PostgreSQL backends serving it, per request, which other programs on
 * the machine hardly disturb — at 10× and 100× over 1× must stay ≤ 1.2.
 */
import { sql } from "kysely";
import {
  type Context,
  doorTarget,
  type Figures,
  type Fixture,
  labgateTargets,
  pgbench,
  pkSelectScript,
  round,
  withCpuCost,
  type Workload,
  wrk,
} from "./_support/mod.ts";

const BASE = 100;
const LEVELS = [1, 10, 100];
/** Door clients, as in the SQL workload's target. */
const CLIENTS = 16;

/** Adds filler rows numbered from+1..to: each user reads its own folder and has a session, key, token. */
async function seedFiller(fixture: Fixture, from: number, to: number): Promise<void> {
  const statements = [
    `with p as (insert into lg_app.principals (kind) select 'user' from generate_series(${
      from + 1
    }, ${to}) returning id)
     insert into lg_app.users (id, email, display_name)
     select id, 'filler' || id || '@bench.example', 'Filler ' || id from p`,
    `insert into lg_app.containers (parent_id, name, path)
     select h.id, 'fill-' || g, '/home/fill-' || g
     from generate_series(${from + 1}, ${to}) g, lg_app.containers h where h.path = '/home'`,
    // The n-th filler user (by id) reads the n-th filler folder.
    `insert into lg_app.role_assignments (container_id, principal_id, role)
     select c.id, u.id, 'reader'
     from (select id, row_number() over (order by id) n from lg_app.users
           where email like 'filler%') u
     join lg_app.containers c on c.path = '/home/fill-' || u.n
     where u.n > ${from}`,
    `insert into lg_app.sessions (id, secret_hash, user_id, csrf_token, expires_at)
     select 'fill' || u.id, md5('s' || u.id), u.id, md5('c' || u.id), now() + interval '1 day'
     from lg_app.users u where email like 'filler%'
       and not exists (select from lg_app.sessions s where s.id = 'fill' || u.id)`,
    `insert into lg_app.keys (id, kind, secret_hash, user_id)
     select substr(md5('k' || u.id), 1, 16), 'api_key', md5('ks' || u.id), u.id
     from lg_app.users u where email like 'filler%'
       and not exists (select from lg_app.keys k where k.user_id = u.id)`,
    `insert into lg_app.auth_tokens (id, secret_hash, app_id, app_user_id, status, expires_at)
     select substr(md5('t' || g), 1, 16), md5('ts' || g), 'bench-app', a.id, 'active',
            now() + interval '30 days'
     from generate_series(${from + 1}, ${to}) g,
          lg_app.users a where a.email = 'app@bench.example'`,
    `insert into lg_app.remote_login_tokens (id, token_hash, user_id, session_id, expires_at)
     select 'fill' || s.user_id, md5('r' || s.user_id), s.user_id, s.id, now() + interval '1 hour'
     from lg_app.sessions s where s.id like 'fill%'
       and not exists (select from lg_app.remote_login_tokens r where r.id = 'fill' || s.user_id)`,
    "analyze",
  ];
  await fixture.database.root.transaction().execute(async (tx) => {
    for (const statement of statements.slice(0, -1)) await sql.raw(statement).execute(tx);
  });
  await sql.raw(statements.at(-1)!).execute(fixture.database.root);
}

export const scaleWorkload: Workload = {
  name: "scale",
  title: `Scale curve: cost per request with ${LEVELS.map((l) => l * BASE).join(" / ")} ` +
    "extra users, folders, keys and tokens",
  run: async (ctx: Context) => {
    const fixture = await ctx.fixture();
    const labgate = await ctx.labgate("scale");
    const baseline = new Map<string, Figures & { cpuUsPerRequest: number }>();
    let seeded = 0;
    try {
      for (const level of LEVELS) {
        const started = performance.now();
        await seedFiller(fixture, seeded, level * BASE);
        seeded = level * BASE;
        console.log(
          `  scale: ${seeded} of each seeded in ${
            ((performance.now() - started) / 1000).toFixed(1)
          } s`,
        );
        // Let labgate's one-second caches forget what they knew before the seeding.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const runs: [string, () => Promise<Figures>][] = [
          ...labgateTargets(fixture).map((target) =>
            [target.name, () =>
              wrk({
                bases: [labgate.base],
                targets: [target],
                connections: ctx.connections,
                seconds: ctx.seconds,
              })] as [string, () => Promise<Figures>]
          ),
          [
            `SQL door, ${CLIENTS} clients`,
            () =>
              pgbench(doorTarget(labgate), pkSelectScript("lists.accounts"), {
                clients: CLIENTS,
                seconds: ctx.seconds,
                mode: ctx.mode,
              }),
          ],
        ];
        for (const [name, run] of runs) {
          const f = await withCpuCost(fixture, labgate.pid, run);
          ctx.report.measure("scale", `${name}, ${level}×`, {
            perSecond: f.rate,
            cpuUsPerRequest: f.cpuUsPerRequest,
            p50Ms: f.p50Ms,
            p99Ms: f.p99Ms,
            errors: f.errors,
          });
          const first = baseline.get(name);
          if (!first) {
            baseline.set(name, f);
            continue;
          }
          const cost = (x: typeof f) =>
            `${round(x.cpuUsPerRequest)} µs CPU/request (${round(x.rate)}/s)`;
          ctx.report.compare({
            workload: "scale",
            figure: `${name}, ${level}× (${seeded} each)`,
            value: cost(f),
            against: `1× (${BASE} each): ${cost(first)}`,
            ratio: f.cpuUsPerRequest / first.cpuUsPerRequest,
            target: { op: "<=", value: 1.2 },
          });
        }
      }
    } finally {
      await ctx.stop("scale", labgate);
    }
  },
};
