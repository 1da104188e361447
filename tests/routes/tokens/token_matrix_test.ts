/**
 * The token door's matrices: every token status, expiry, presentation and entry
 * point, and every process-as mode with permitted actions, each with its exact
 * answer. Apart from tokens_test.ts so the two longest token tests run beside
 * the others under `deno task test`.
 */
import assert from "node:assert/strict";
import { createApp } from "../../../routes/mod.ts";
import type { ProcessAs, TokenStatus } from "../../../src/db/schema.ts";
import { LabgateError } from "../../../src/errors.ts";
import {
  type EntryPoint,
  resolveTokenSecret,
  TOKEN_CACHE_MS,
  type TokenInput,
  tokenSettings,
  updateExternalApp,
} from "../../../src/doors/tokens/mod.ts";
import { backendTest, type TestContext } from "../../_support/backends.ts";
import {
  ANA,
  caller,
  type Entry,
  FOLDER,
  LIST,
  NOBODY,
  type Presentation,
  RITA,
  tokenWorld,
} from "../../_support/tokens.ts";

/** Sets a token's status and expiry behind the door's back, as another instance would. */
async function setStatus(t: TestContext, id: string, status: TokenStatus, past: boolean) {
  const day = 86_400_000;
  await t.svc.db.updateTable("auth_tokens").set({
    status,
    expires_at: new Date(t.svc.now().getTime() + (past ? -day : 30 * day)),
  }).where("id", "=", id).execute();
  t.advance(TOKEN_CACHE_MS);
}

/** The SQL door's answer as an HTTP-like status: 200 signed in, else the refusal's. */
async function sqlLogin(t: TestContext, value: string, processAs?: string): Promise<number> {
  try {
    await resolveTokenSecret(t.svc, {
      secret: value,
      clientAddr: "10.0.0.9",
      processAs,
    });
    return 200;
  } catch (error) {
    if (error instanceof LabgateError) return error.status;
    throw error;
  }
}

const ENTRY_NAMES: Record<Entry | "sql", EntryPoint> = {
  rest: "rest",
  action: "action",
  sql: "sql",
};

backendTest(
  "tokenSource() answers status × expiry × presentation × entry point with the exact status",
  async (t) => {
    const world = await tokenWorld(t);
    const call = caller(createApp(t.svc));
    const { id, value } = await world.token();
    const before = await world.rowCount();
    const statuses: TokenStatus[] = ["pending", "disabled", "active", "expired"];
    const presentations: (Presentation | "password")[] = [
      "header",
      "cookie",
      "param-on",
      "param-off",
      "password",
    ];
    const all = Object.keys(ENTRY_NAMES) as (Entry | "sql")[];
    for (const withheld of [null, ...all]) {
      // The app allows every entry point but one (or all of them).
      const allowed = all.filter((e) => e !== withheld).map((e) => ENTRY_NAMES[e]);
      await updateExternalApp(t.svc, t.admin, world.app.id, { entryPoints: allowed });
      for (const presentation of presentations) {
        await t.svc.settings.set(tokenSettings, {
          maxApps: 20,
          allowTokenInRequest: presentation === "param-on",
        });
        // The SQL door takes the token only as the password of user `token`.
        const entries = presentation === "password"
          ? ["sql" as const]
          : ["rest", "action"] as const;
        for (const status of statuses) {
          for (const past of [true, false]) {
            for (const entry of entries) {
              await setStatus(t, id, status, past);
              const expected = presentation === "param-off" || status !== "active" || past
                ? 401
                : entry === withheld
                ? 403
                : 200;
              const got = entry === "sql"
                ? await sqlLogin(t, value)
                : (await call(value, { presentation: presentation as Presentation, entry }))
                  .status;
              const label = `${status} ${past ? "past" : "future"} ${presentation} ${entry}` +
                (withheld ? ` (app without ${withheld})` : "");
              assert.equal(got, expected, label);
            }
          }
        }
      }
    }
    assert.equal(await world.rowCount(), before);
  },
);

const PROCESS_AS_CASES: {
  mode: ProcessAs;
  target?: string;
  header?: string;
  /** The status of an insert. */
  expected: number;
  /** The status of a read, when it differs. */
  read?: number;
}[] = [
  { mode: "never", expected: 200 },
  { mode: "never", header: ANA, expected: 403 },
  { mode: "any", header: ANA, expected: 200 },
  { mode: "any", header: NOBODY, expected: 404 },
  { mode: "specific", target: ANA, expected: 200 },
  { mode: "specific", target: ANA, header: RITA, expected: 403 },
  { mode: "department", target: "Chemistry", header: ANA, expected: 200 },
  { mode: "department", target: "Chemistry", header: RITA, expected: 403 },
  { mode: "role", target: "editor", header: ANA, expected: 200 },
  { mode: "role", target: "editor", header: RITA, expected: 403 },
  // Rita holds Reader: she may be acted as, and may read but not insert.
  { mode: "role", target: "reader", header: RITA, expected: 403, read: 200 },
];

const PERMITTED_CASES: { name: string; input: TokenInput }[] = [
  { name: "full", input: { permitted: "full" } },
  { name: "roles", input: { permitted: "roles" } },
  ...["insertRows", "selectRows", "rest.read", "rest.write", "sql"].map((action) => ({
    name: `restricted to ${action}`,
    input: { permitted: "restricted" as const, actions: [action] },
  })),
];

/** Each way in to the list: what it does, the permitted-action name it needs, and the call. */
const USES: {
  name: string;
  needs: string;
  writes: boolean;
  call: (
    call: ReturnType<typeof caller>,
    t: TestContext,
    value: string,
    processAs?: string,
  ) => Promise<number>;
}[] = [
  {
    name: "action insertRows",
    needs: "insertRows",
    writes: true,
    call: async (call, _t, value, processAs) =>
      (await call(value, {
        entry: "action",
        action: "insertRows",
        processAs,
        body: { folder: FOLDER, list: LIST, rows: [{ Name: "x" }] },
      })).status,
  },
  {
    name: "REST insertRows",
    needs: "rest.write",
    writes: true,
    call: async (call, _t, value, processAs) =>
      (await call(value, {
        method: "POST",
        path: `${FOLDER}/query-insertRows.api`,
        processAs,
        body: { schemaName: "lists", queryName: LIST, rows: [{ Name: "y" }] },
      })).status,
  },
  {
    name: "REST selectRows",
    needs: "rest.read",
    writes: false,
    call: async (call, _t, value, processAs) =>
      (await call(value, {
        path: `${FOLDER}/query-selectRows.api?schemaName=lists&queryName=${LIST}`,
        processAs,
      })).status,
  },
  {
    name: "SQL door login",
    needs: "sql",
    writes: false,
    // Signing in needs no folder: a named user who cannot read the list still signs in.
    call: (_call, t, value, processAs) => sqlLogin(t, value, processAs),
  },
];

backendTest(
  "tokenRoutes() respect process-as × permitted actions × entry point, changing nothing when refused",
  async (t) => {
    const world = await tokenWorld(t);
    await updateExternalApp(t.svc, t.admin, world.app.id, {
      entryPoints: ["rest", "action", "sql"],
    });
    const call = caller(createApp(t.svc));
    for (const use of USES) {
      for (const permitted of PERMITTED_CASES) {
        for (const c of PROCESS_AS_CASES) {
          const { value } = await world.token({
            processAs: c.mode,
            processAsTarget: c.target,
            ...permitted.input,
          });
          const before = await world.rowCount();
          const label = `${use.name} / ${permitted.name} / ${c.mode} ${c.target ?? ""} as ${
            c.header ?? "-"
          }`;
          const allowedAction = permitted.input.permitted !== "restricted" ||
            permitted.input.actions!.includes(use.needs);
          const asActing = use.writes ? c.expected : c.read ?? c.expected;
          const expected = !allowedAction
            ? 403
            : use.needs === "sql" && asActing === 404
            ? 200
            : asActing;
          assert.equal(await use.call(call, t, value, c.header), expected, label);
          const added = use.writes && expected === 200 ? 1 : 0;
          assert.equal(await world.rowCount(), before + added, label);
        }
      }
    }
    await t.svc.audit.flush();
    const uses = await t.svc.db.selectFrom("audit_log").selectAll()
      .where("event", "=", "token.use").execute();
    assert.ok(uses.some((u) => u.outcome === "ok" && u.user_email === ANA));
    assert.ok(uses.some((u) => u.outcome === "denied" && u.message?.includes("process as")));
    assert.ok(uses.every((u) => u.credential_kind === "token" && u.credential_id));
  },
);
