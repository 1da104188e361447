/**
 * Two folders for the SQL sandbox tests: /home/a, which reader@example.org
 * may read, with lists `samples` (one column of each type) and `sites`; and
 * /home/b with list `secret`, which the reader must never see. Plus a
 * sandboxed backend session on either engine.
 */
import pg from "pg";
import { sql } from "kysely";
import { actorOf, type TestContext } from "../../_support/backends.ts";
import { createContainer, setPolicy, visibleContainers } from "../../../src/data/containers.ts";
import { createList } from "../../../src/data/lists.ts";
import { folderRole, folderSchema } from "../../../src/data/physical.ts";
import { insertRows } from "../../../src/data/rows.ts";
import { createUser } from "../../../src/data/users.ts";
import {
  analyze,
  type FolderScope,
  hidePhysicalNames,
  sessionResetSql,
  sessionSetupSql,
} from "../../../src/sql/mod.ts";

export const READER = "reader@example.org";
/** The reader's password, for tests that log in through the SQL door. */
export const READER_PASSWORD = "reader-password-1";
export const SECRET_VALUE = "TOPSECRET-7731";

export interface World {
  scope: FolderScope;
  /** The other folder's schema and role, which must never leak. */
  other: { id: number; schema: string; role: string };
  oids: {
    samples: number;
    sites: number;
    secret: number;
    secretKey: number;
    secretType: number;
    otherRole: number;
  };
}

export async function buildWorld(t: TestContext, statementTimeoutMs = 5000): Promise<World> {
  const { svc, admin } = t;
  const reader = await createUser(svc, admin, {
    email: READER,
    displayName: "Reader",
    password: READER_PASSWORD,
  });
  const a = await createContainer(svc, admin, { parentPath: "/home", name: "a" });
  const b = await createContainer(svc, admin, { parentPath: "/home", name: "b" });
  await setPolicy(svc, admin, "/home/a", {
    inherit: false,
    assignments: [{ principalId: reader.id, role: "reader" }],
  });
  await setPolicy(svc, admin, "/home/b", { inherit: false, assignments: [] });
  const samples = await createList(svc, admin, "/home/a", {
    name: "samples",
    description: "Samples received at the lab",
    key: "sample_id",
    columns: [
      { name: "sample_id", type: "Integer" },
      { name: "site_id", type: "Integer", required: true },
      { name: "label", type: "Text", description: "Tube label" },
      { name: "notes", type: "Text" },
      { name: "weight", type: "Decimal" },
      { name: "ratio", type: "Double" },
      { name: "passed", type: "Boolean" },
      { name: "collected_on", type: "Date" },
      { name: "received_at", type: "DateTime" },
      { name: "logged_at", type: "Timestamp" },
      { name: "uid", type: "UUID" },
      { name: "attrs", type: "JSON" },
      { name: "raw", type: "Text" },
      { name: "small", type: "Integer" },
      { name: "real_val", type: "Double" },
      { name: "big", type: "BigInteger" },
    ],
  });
  await insertRows(svc, admin, samples, [
    row(1, 1, "A-001", 1.5),
    row(2, 1, "A-002", 2.25),
    row(3, 2, "B-001", 3),
    row(4, 1, "Ä-ü", 0.5),
  ]);
  const sites = await createList(svc, admin, "/home/a", {
    name: "sites",
    key: "site_id",
    columns: [
      { name: "site_id", type: "Integer" },
      { name: "name", type: "Text" },
      { name: "region", type: "Text" },
      { name: "active", type: "Boolean" },
    ],
  });
  await insertRows(svc, admin, sites, [
    { site_id: 1, name: "North", region: "EU", active: true },
    { site_id: 2, name: "South", region: "US", active: false },
  ]);
  const secret = await createList(svc, admin, "/home/b", {
    name: "secret",
    description: "Never shown to the reader",
    key: "id",
    autoKey: true,
    columns: [{ name: "code", type: "Text" }],
  });
  await insertRows(svc, admin, secret, [{ code: SECRET_VALUE }]);

  const installId = svc.database.installId;
  const readable = await visibleContainers(svc, await actorOf(svc, READER, "sql"));
  const scope: FolderScope = {
    containerId: a.id,
    containerPath: a.path,
    schema: folderSchema(a.id),
    role: folderRole(installId, a.id),
    userId: reader.id,
    userEmail: READER,
    readableFolders: readable.map((c) => ({ id: c.id, path: c.path })),
    statementTimeoutMs,
    shownColumns: [],
    phiLevel: "not_phi",
    withheldTables: [],
  };
  const other = { id: b.id, schema: folderSchema(b.id), role: folderRole(installId, b.id) };
  const oid = async (expression: string) =>
    Number(
      (await sql<{ oid: number }>`select ${sql.raw(expression)}::oid as oid`.execute(
        svc.database.root,
      )).rows[0].oid,
    );
  return {
    scope,
    other,
    oids: {
      samples: await oid(`'${scope.schema}.samples'::regclass`),
      sites: await oid(`'${scope.schema}.sites'::regclass`),
      secret: await oid(`'${other.schema}.secret'::regclass`),
      secretKey: await oid(`'${other.schema}.secret_pkey'::regclass`),
      secretType: await oid(`'${other.schema}.secret'::regtype`),
      otherRole: await oid(`'${other.role}'::regrole`),
    },
  };
}

function row(id: number, site: number, label: string, weight: number) {
  return {
    sample_id: id,
    site_id: site,
    label,
    notes: id % 2 ? "first" : null,
    weight,
    ratio: weight / 3,
    passed: id % 2 === 1,
    collected_on: `2024-01-0${id}`,
    received_at: `2024-01-0${id} 10:00:00`,
    logged_at: `2024-01-0${id}T10:00:00Z`,
    uid: `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1${id}`,
    attrs: { batch: id },
    raw: "\\x0102",
    small: id,
    real_val: id / 4,
    big: 9007199254740993n.toString(),
  };
}

export interface Field {
  name: string;
  dataTypeID: number;
}

/** One statement's answer, as both engines' clients report it. */
export interface Answer {
  fields: Field[];
  rows: Record<string, unknown>[];
}

/** An engine error, with PostgreSQL's fields. */
export class EngineError extends Error {
  constructor(message: string, readonly code: string, readonly position?: number) {
    super(message);
  }
}

/** A backend session in the sandbox, as the wire server will hold one. */
export interface Sandbox {
  /** Runs SQL exactly as given (already analysed, or raw for second-wall tests). */
  exec(text: string): Promise<Answer[]>;
  close(): Promise<void>;
}

export async function openSandbox(t: TestContext, scope: FolderScope): Promise<Sandbox> {
  const { run, release } = await backendSession(t);
  try {
    await run(sessionSetupSql(scope));
  } catch (error) {
    await release();
    throw error;
  }
  return {
    exec: run,
    close: async () => {
      try {
        for (const statement of sessionResetSql()) await run(statement);
      } finally {
        await release();
      }
    },
  };
}

/** One backend session: PGlite's only one (locked), or a new PostgreSQL connection. */
async function backendSession(
  t: TestContext,
): Promise<{ run: (text: string) => Promise<Answer[]>; release: () => Promise<void> }> {
  const engine = t.svc.database.engine;
  if (engine.kind === "pglite") {
    const unlock = await engine.lock.acquire();
    return {
      run: (text) => answers(async () => await engine.pglite.exec(text)),
      release: () => Promise.resolve(unlock()),
    };
  }
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  client.on("notice", () => {});
  return {
    run: (text) =>
      answers(async () => {
        const result = await client.query(text) as unknown as pg.QueryResult | pg.QueryResult[];
        return Array.isArray(result) ? result : [result];
      }),
    release: () => client.end(),
  };
}

/** Both engines' results as Answers, and their errors as EngineErrors. */
async function answers(
  query: () => Promise<{ fields?: Field[]; rows?: unknown[] }[]>,
): Promise<Answer[]> {
  try {
    return (await query()).map((r) => ({
      fields: (r.fields ?? []).map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
      rows: (r.rows ?? []) as Record<string, unknown>[],
    }));
  } catch (error) {
    const e = error as { message: string; code?: string; position?: string };
    throw new EngineError(e.message, e.code ?? "", e.position ? Number(e.position) : undefined);
  }
}

/**
 * Client SQL as the wire server will run it: analysed, rewritten, run, and
 * errors (refusals, which may echo names the client typed, or the engine's)
 * with physical names hidden and their position in the client's text.
 */
export async function clientQuery(box: Sandbox, scope: FolderScope, text: string) {
  const analysis = analyze(text, scope);
  if (!analysis.ok) {
    const { message, code, position } = analysis.refusal;
    throw new EngineError(hidePhysicalNames(message, scope), code, position);
  }
  try {
    return await box.exec(analysis.text);
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    const position = error.position === undefined
      ? undefined
      : analysis.positionMap(error.position);
    throw new EngineError(hidePhysicalNames(error.message, scope), error.code, position);
  }
}

/** The markers of the other folder and of physical names found in answers. */
export function leaks(answers: Answer[], world: World): string[] {
  const text = JSON.stringify(
    answers.map((a) => [a.fields.map((f) => f.name), a.rows]),
    (_, v) => typeof v === "bigint" ? v.toString() : v,
  );
  return ["lg_", SECRET_VALUE, "secret", "/home/b", world.other.role]
    .filter((marker) => text.includes(marker));
}
