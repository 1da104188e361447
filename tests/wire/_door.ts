/**
 * A SQL door started for one test on an ephemeral port, over the test's
 * database (PGlite or PostgreSQL), with a folder holding a list of every
 * column type, a folder the test user cannot read, and a self-signed
 * certificate made with openssl once per test process.
 */
import pg from "pg";
import type { TestContext } from "../_support/backends.ts";
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { createList, type ListColumnInput } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { createUser } from "../../src/data/users.ts";
import { type SqlDoorSettings, sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { type SqlDoor, startSqlDoor, type TlsMaterial } from "../../wire/mod.ts";
import { RawClient } from "./_client.ts";

export const ALICE = { email: "alice@example.org", password: "alice-password-1" };
export const BOB = { email: "bob@example.org", password: "bob-password-1" };
export const FOLDER = "/home/assays";
export const SECRET_FOLDER = "/home/secret";

/** A real heavy statement: on PGlite it would run for many minutes. */
export const CROSS_JOIN = "select count(*) from lists.samples, generate_series(1, 100000000) a, " +
  "generate_series(1, 100000000) b";

/** The rows of `lists.samples`, one per column type. */
export const SAMPLES = [
  {
    id: 1,
    label: "alpha",
    big: "9007199254740993",
    amount: "12.345",
    ratio: 0.5,
    ok: true,
    day: "2024-01-15",
    taken: "2024-01-15 10:30:00",
    stamped: "2024-01-15T10:30:00Z",
    uid: "0b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6b",
    meta: { plate: 1, wells: [1, 2] },
  },
  {
    id: 2,
    label: 'beta, "quoted"',
    big: "-5",
    amount: "0.001",
    ratio: -1.25,
    ok: false,
    day: "2023-12-31",
    taken: "2023-12-31 23:59:59",
    stamped: "2023-12-31T23:59:59+02:00",
    uid: "1b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6c",
    meta: { plate: 2 },
  },
  {
    id: 3,
    label: "gamma",
    big: null,
    amount: null,
    ratio: null,
    ok: null,
    day: null,
    taken: null,
    stamped: null,
    uid: null,
    meta: null,
  },
];

/** A new self-signed certificate for localhost and 127.0.0.1, or null without openssl. */
export async function makeCertificate(): Promise<(TlsMaterial & { certPath: string }) | null> {
  const dir = await Deno.makeTempDir({ prefix: "labgate-tls-" });
  try {
    const { success } = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!success) return null;
  } catch {
    return null;
  }
  return {
    key: await Deno.readTextFile(`${dir}/key.pem`),
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    certPath: `${dir}/cert.pem`,
  };
}

let material: ReturnType<typeof makeCertificate> | undefined;

/** One certificate per test process. */
export function testCertificate(): ReturnType<typeof makeCertificate> {
  material ??= makeCertificate();
  return material;
}

export interface DoorFixture extends AsyncDisposable {
  door: SqlDoor;
  port: number;
  /** The certificate offered on SSLRequest, when the fixture was asked for TLS. */
  tls: (TlsMaterial & { certPath: string }) | null;
  /** Replaces the certificate new connections get. */
  setTls(material: TlsMaterial | null): void;
}

export interface DoorOptions {
  tls?: boolean;
  settings?: Partial<SqlDoorSettings>;
  /** Listen on the port setting instead of an ephemeral port. */
  portFromSettings?: boolean;
}

/** The samples list: one column of every list type, in order. */
export const SAMPLE_COLUMNS: readonly ListColumnInput[] = [
  { name: "id", type: "Integer" },
  { name: "label", type: "Text" },
  { name: "big", type: "BigInteger" },
  { name: "amount", type: "Decimal" },
  { name: "ratio", type: "Double" },
  { name: "ok", type: "Boolean" },
  { name: "day", type: "Date" },
  { name: "taken", type: "DateTime" },
  { name: "stamped", type: "Timestamp" },
  { name: "uid", type: "UUID" },
  { name: "meta", type: "JSON" },
];

/** Test users, folders and the samples list, then a door on an ephemeral port. */
export async function openDoor(
  t: TestContext,
  options: DoorOptions = {},
): Promise<DoorFixture> {
  const { svc, admin } = t;
  const alice = await createUser(svc, admin, { email: ALICE.email, password: ALICE.password });
  await createUser(svc, admin, { email: BOB.email, password: BOB.password });
  await createContainer(svc, admin, { parentPath: "/home", name: "assays", inheritPolicy: false });
  await createContainer(svc, admin, { parentPath: "/home", name: "secret", inheritPolicy: false });
  await setPolicy(svc, admin, FOLDER, {
    inherit: false,
    assignments: [{ principalId: alice.id, role: "reader" }],
  });
  const samples = await createList(svc, admin, FOLDER, {
    name: "samples",
    key: "id",
    columns: [...SAMPLE_COLUMNS],
  });
  await insertRows(svc, admin, samples, SAMPLES);
  const hidden = await createList(svc, admin, SECRET_FOLDER, {
    name: "hidden",
    key: "id",
    columns: [{ name: "id", type: "Integer" }, { name: "note", type: "Text" }],
  });
  await insertRows(svc, admin, hidden, [{ id: 1, note: "top secret" }]);
  return await startDoor(t, options);
}

/** A door on an ephemeral port over the test's database, whatever it holds. */
export async function startDoor(
  t: TestContext,
  options: DoorOptions = {},
): Promise<DoorFixture> {
  const { svc } = t;
  await svc.settings.set(sqlDoorSettings, {
    ...sqlDoorSettings.defaults,
    enabled: true,
    ...options.settings,
  });
  let current: TlsMaterial | null = options.tls ? await testCertificate() : null;
  const door = await startSqlDoor(svc, {
    hostname: "127.0.0.1",
    port: options.portFromSettings ? undefined : 0,
    getTlsMaterial: () => Promise.resolve(current),
  });
  return {
    door,
    get port() {
      return door.port!;
    },
    tls: options.tls ? await testCertificate() : null,
    setTls(material) {
      current = material;
    },
    async [Symbol.asyncDispose]() {
      // Clients that just said goodbye get a moment to go, so they are not sent a shutdown error.
      for (let i = 0; i < 100 && door.connections > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await door.close();
    },
  };
}

/** A postgres:// URL for a door user. */
export function doorUrl(
  port: number,
  user: { email: string; password: string } = ALICE,
  database = FOLDER,
  query = "",
): string {
  return `postgres://${encodeURIComponent(user.email)}:${
    encodeURIComponent(user.password)
  }@127.0.0.1:${port}/${encodeURIComponent(database)}${query}`;
}

/** A node-postgres client of the door at `port`, connected as `user`; `await using` ends it. */
export async function connectDoorClient(
  port: number,
  user: { email: string; password: string } = ALICE,
  database = FOLDER,
): Promise<pg.Client & AsyncDisposable> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port,
    user: user.email,
    password: user.password,
    database,
  });
  await client.connect();
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.end() });
}

/** A raw protocol client of the door at `port`, signed in as `user` (SCRAM); `await using` ends it. */
export function connectRawClient(
  port: number,
  user: { email: string; password: string } = ALICE,
  database = FOLDER,
): Promise<RawClient> {
  return RawClient.connect(port, { user: user.email, password: user.password, database });
}
