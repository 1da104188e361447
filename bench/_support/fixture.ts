/**
 * The seeded PostgreSQL database every workload of a run shares: a folder a
 * reader and an external app user may read, its lists, and their credentials.
 */
import { sql } from "kysely";
import type { Actor } from "../../src/core/actor.ts";
import { actorFor } from "../../src/core/actor.ts";
import { createSession } from "../../src/data/sessions.ts";
import { bootstrapAdmin } from "../../src/app/bootstrap.ts";
import { loadConfig } from "../../src/config.ts";
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { createList } from "../../src/data/lists.ts";
import { createUser, getUserByEmail } from "../../src/data/users.ts";
import type { Database } from "../../src/db/mod.ts";
import { createApiKey } from "../../src/doors/keys/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { createToken as createRemoteToken } from "../../src/doors/remote_login/mod.ts";
import { remoteLoginSettings } from "../../src/doors/remote_login/settings.ts";
import { createServices, type Services } from "../../src/services.ts";
import { sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { createExternalApp, createToken } from "../../src/doors/tokens/mod.ts";
import { scratchPostgresDatabase } from "../../src/db/scratch.ts";
import { ensureShadowCatalog } from "../../src/sql/mod.ts";

/** Where a scratch database may be created (the user needs CREATEDB and CREATEROLE). */
export const DEFAULT_SERVER = Deno.env.get("BENCH_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";
export const ADMIN = { email: "admin@bench.example", password: "bench-admin-password" };
export const READER = { email: "reader@bench.example", password: "reader-pass-1" };
export const FOLDER = "/home/bench";
/** Rows of `lists.accounts`, the primary-key select's table. */
export const ACCOUNTS = 100_000;
/** Rows of `lists.samples`, the list the HTTP query API reads 100 rows of. */
const SAMPLES = 1000;

export interface Fixture {
  server: string;
  url: string;
  database: Database;
  svc: Services;
  /** The administrator, for workloads that add lists of their own. */
  admin: Actor;
  /** Physical table of lists.accounts (aid, abalance, filler) in /home/bench. */
  accountsTable: string;
  /** Physical table of lists.samples (Id, Name, Weight) and its key column. */
  samplesTable: string;
  samplesKey: string;
  /** The reader's API key (HTTP Basic `apikey:` and SQL door user `apikey`). */
  apiKey: string;
  /** An active auth token of app `bench-app`, whose app user reads /home/bench. */
  token: string;
  /** A remote-login token of the reader's browser session. */
  remoteToken: string;
  dispose(): Promise<void>;
}

/**
 * A fresh database on `server` with a folder /home/bench that a Reader and an
 * external app user may read, lists `accounts` (100k rows) and `samples` (1000
 * rows) filled by bulk SQL, and the reader's key, the app's token and a
 * remote-login token. Settings are raised so the load itself is never refused.
 */
export async function createFixture(server: string): Promise<Fixture> {
  const { database, url, dispose } = await scratchPostgresDatabase(server, {
    prefix: "lg_bench",
    // Few sessions: PostgreSQL's max_connections is shared with labgate's pools and pgbench.
    poolSize: 4,
  });
  const config = loadConfig({
    LABGATE_ADMIN_EMAIL: ADMIN.email,
    LABGATE_ADMIN_PASSWORD: ADMIN.password,
    LABGATE_LOG_REQUESTS: "false",
  });
  const svc = createServices(config, database);
  try {
    await ensureShadowCatalog(database.root);
    await bootstrapAdmin(svc, () => {});
    const adminUser = (await getUserByEmail(svc, ADMIN.email))!;
    const admin = browserActor(
      adminUser,
      (await createSession(svc, { userId: adminUser.id })).session,
    );
    await svc.settings.set(keySettings, {
      apiKeys: true,
      apiKeyExpiries: ["1w", "never"],
      sessionKeys: true,
    });
    await svc.settings.set(remoteLoginSettings, {
      ...await svc.settings.get(remoteLoginSettings),
      verifyPerMinute: 1_000_000,
    });
    await svc.settings.set(sqlDoorSettings, {
      ...sqlDoorSettings.defaults,
      // The soak holds 500 connections of one user; the defaults cap at 500 and 50 a user.
      maxConnections: 2000,
      maxConnectionsPerUser: 2000,
      // pgbench's clients all sign in as the reader, standing for that many users: at the
      // default of 10 statements at once per user the door would queue 54 of 64 clients by
      // design, and the figures would measure that limit rather than the door (issue 15).
      maxStatementsPerUser: 2000,
      // API-key logins without TLS on loopback, so connection rates do not measure TLS.
      allowLoopbackCleartext: true,
    });
    await createExternalApp(svc, admin, {
      id: "bench-app",
      description: "Benchmark app",
      entryPoints: ["rest"],
      defaultExpiryDays: 30,
    });
    const appUser = await createUser(svc, admin, {
      email: "app@bench.example",
      userType: "app",
      externalAppId: "bench-app",
      password: "bench-app-password",
    });
    const reader = await createUser(svc, admin, READER);
    await createContainer(svc, admin, { parentPath: "/home", name: "bench", inheritPolicy: false });
    await setPolicy(svc, admin, FOLDER, {
      inherit: false,
      assignments: [
        { principalId: reader.id, role: "reader" },
        { principalId: appUser.id, role: "reader" },
      ],
    });
    const accounts = await createList(svc, admin, FOLDER, {
      name: "accounts",
      key: "aid",
      columns: [
        { name: "aid", type: "Integer" },
        { name: "abalance", type: "Integer" },
        { name: "filler", type: "Text" },
      ],
    });
    const samples = await createList(svc, admin, FOLDER, {
      name: "samples",
      key: "Id",
      autoKey: true,
      columns: [{ name: "Name", type: "Text" }, { name: "Weight", type: "Double" }],
    });
    // Physical column names are the lower-cased list column names.
    await sql.raw(
      `insert into ${accounts.qualifiedTable} (aid, abalance, filler)
       select g, g % 1000, md5(g::text) from generate_series(1, ${ACCOUNTS}) g`,
    ).execute(database.root);
    await sql.raw(
      `insert into ${samples.qualifiedTable} (name, weight)
       select 'sample ' || g, g / 10.0 from generate_series(1, ${SAMPLES}) g`,
    ).execute(database.root);
    await sql.raw(`analyze ${accounts.qualifiedTable}`).execute(database.root);
    await sql.raw(`analyze ${samples.qualifiedTable}`).execute(database.root);

    const readerSession = (await createSession(svc, { userId: reader.id })).session;
    const readerActor = browserActor(reader, readerSession);
    const { key } = await createApiKey(svc, readerActor, { expiry: "never", description: "bench" });
    const { value: token } = await createToken(svc, admin, {
      appId: "bench-app",
      appUserId: appUser.id,
    });
    const remoteToken = await createRemoteToken(svc, readerActor, new URL("http://127.0.0.1/"));
    await svc.audit.flush();
    return {
      server,
      url,
      database,
      svc,
      admin,
      accountsTable: accounts.qualifiedTable,
      samplesTable: samples.qualifiedTable,
      samplesKey: samples.list.key_column,
      apiKey: key,
      token,
      remoteToken,
      dispose: async () => {
        await svc.audit.flush();
        await dispose();
      },
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

function browserActor(
  user: Parameters<typeof actorFor>[0],
  session: { id: string; csrf_token: string },
): Actor {
  return {
    ...actorFor(user, {
      credential: { kind: "session", id: session.id },
      compliance: null,
      impersonatorId: null,
      door: "web",
      clientAddr: "127.0.0.1",
    }),
    session: { id: session.id, csrfToken: session.csrf_token },
  };
}
