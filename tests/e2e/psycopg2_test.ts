import assert from "node:assert/strict";
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { getUserByEmail } from "../../src/data/users.ts";
import { backendTest } from "../_support/backends.ts";
import { ALICE, BOB, FOLDER, openDoor, SAMPLE_COLUMNS } from "../wire/_door.ts";
import { installed, PYTHON, runPython, skipped } from "./_clients.ts";

/** What psycopg2 (libpq, simple Query only) does through the door, as JSON. */
const SCRIPT = `
import json, sys, threading
import psycopg2

port, user, password, db, backend, other, other_password = sys.argv[1:8]
out = {}

def connect(user, password):
    return psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password,
                            dbname=db, sslmode="disable", connect_timeout=10)

conn = connect(user, password)
out["server_version"] = conn.server_version
cur = conn.cursor()
cur.execute("select * from lists.samples order by id")
out["columns"] = [d.name for d in cur.description]
out["rows"] = [[None if v is None else str(v) for v in row] for row in cur.fetchall()]
cur.execute("select label from lists.samples where id = %s and label like %s", (2, "beta%"))
out["param"] = cur.fetchone()[0]
conn.rollback()

named = conn.cursor(name="srv_cursor")
named.itersize = 2
named.execute("select id from lists.samples order by id")
out["named"] = [r[0] for r in named]
named.close()
conn.rollback()

try:
    conn.cursor().execute("insert into lists.samples (id) values (42)")
except psycopg2.Error as e:
    out["insert"] = e.pgcode
conn.rollback()

if backend == "postgres":
    conn.autocommit = True
    timer = threading.Timer(0.5, conn.cancel)
    timer.start()
    try:
        conn.cursor().execute("select pg_sleep(30)")
    except psycopg2.Error as e:
        out["cancel"] = e.pgcode
    cur = conn.cursor()
    cur.execute("select 1")
    out["after_cancel"] = cur.fetchone()[0]

for key, (u, p) in {"bad_password": (user, "wrong"), "no_folder": (other, other_password)}.items():
    try:
        connect(u, p)
    except psycopg2.OperationalError as e:
        out[key] = str(e)
print(json.dumps(out))
`;

backendTest(
  "psycopg2 reads every column type, interpolates parameters, uses named cursors",
  async (t) => {
    if (!await installed(PYTHON, ["-c", "import psycopg2"])) return skipped("python3-psycopg2");
    await using fx = await openDoor(t);
    const result = await runPython(SCRIPT, [
      String(fx.port),
      ALICE.email,
      ALICE.password,
      FOLDER,
      t.backend,
      BOB.email,
      BOB.password,
    ]);
    assert.equal(result.stderr, "");
    const out = JSON.parse(result.stdout);
    assert.ok(out.server_version >= 150000, `server_version ${out.server_version}`);
    assert.deepEqual(out.columns, SAMPLE_COLUMNS.map((c) => c.name));
    assert.deepEqual(out.rows[0], [
      "1",
      "alpha",
      "9007199254740993",
      "12.345",
      "0.5",
      "True",
      "2024-01-15",
      "2024-01-15 10:30:00",
      "2024-01-15 10:30:00+00:00",
      "0b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6b",
      "{'plate': 1, 'wells': [1, 2]}",
    ]);
    assert.deepEqual(out.rows[2].slice(1), [
      "gamma",
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
    assert.equal(out.param, 'beta, "quoted"');
    assert.deepEqual(out.named, [1, 2, 3]);
    assert.equal(out.insert, "25006");
    if (t.backend === "postgres") {
      assert.equal(out.cancel, "57014");
      assert.equal(out.after_cancel, 1);
    }
    assert.match(out.bad_password, /Password authentication failed/);
    assert.match(out.no_folder, new RegExp(`database "${FOLDER}" does not exist`));
  },
);

/** 30 psycopg2 connections of one user sit in open transactions; another user signs in and reads. */
const IDLE_TRANSACTIONS_SCRIPT = `
import json, sys, threading, time
import psycopg2
from psycopg2.extensions import TRANSACTION_STATUS_INTRANS

port, user, password, db, other, other_password, other_db = sys.argv[1:8]
out = {"codes": [], "hints": []}
conns = []
lock = threading.Lock()

def connect(user, password, db):
    return psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password,
                            dbname=db, sslmode="disable", connect_timeout=10)

def notebook():
    conn = connect(user, password, db)
    with lock:
        conns.append(conn)
    try:
        # autocommit is off, as by default: BEGIN, then select 1, then the transaction sits idle
        conn.cursor().execute("select 1")
        code, hint = "ok", None
    except psycopg2.Error as e:
        code, hint = e.pgcode, e.diag.message_hint
    with lock:
        out["codes"].append(code)
        out["hints"].append(hint)

threads = [threading.Thread(target=notebook) for _ in range(30)]
for thread in threads:
    thread.start()
deadline = time.monotonic() + 15
while time.monotonic() < deadline and (len(conns) < 30 or out["codes"].count("ok") < 5):
    time.sleep(0.05)
out["waiting"] = 30 - len(out["codes"])

started = time.monotonic()
reader = connect(other, other_password, other_db)
cur = reader.cursor()
cur.execute("select 1")
out["other"] = cur.fetchone()[0]
out["other_seconds"] = time.monotonic() - started
reader.close()

for thread in threads:
    thread.join()
out["idle_in_transaction"] = sum(c.get_transaction_status() == TRANSACTION_STATUS_INTRANS
                                 for c in conns)
for conn in conns:
    conn.close()
print(json.dumps(out))
`;

backendTest(
  "psycopg2: 30 idle transactions of one user leave the door to another user within 1 s",
  async (t) => {
    if (!await installed(PYTHON, ["-c", "import psycopg2"])) return skipped("python3-psycopg2");
    await using fx = await openDoor(t, { settings: { pinWaitSeconds: 2 } });
    const bob = (await getUserByEmail(t.svc, BOB.email))!;
    await createContainer(t.svc, t.admin, {
      parentPath: "/home",
      name: "bobs",
      inheritPolicy: false,
    });
    await setPolicy(t.svc, t.admin, "/home/bobs", {
      inherit: false,
      assignments: [{ principalId: bob.id, role: "reader" }],
    });
    const result = await runPython(IDLE_TRANSACTIONS_SCRIPT, [
      String(fx.port),
      ALICE.email,
      ALICE.password,
      FOLDER,
      BOB.email,
      BOB.password,
      "/home/bobs",
    ]);
    assert.equal(result.stderr, "");
    const out = JSON.parse(result.stdout);
    assert.equal(out.other, 1);
    assert.ok(out.other_seconds < 1, `the other user waited ${out.other_seconds} s`);
    assert.ok(out.waiting > 0, "some of the 30 were still waiting for a share meanwhile");
    // maxPinnedBackendsPerUser (5) of the 20 backends; the rest were told why after pinWaitSeconds.
    assert.equal(out.codes.filter((code: string) => code === "ok").length, 5);
    assert.equal(out.codes.filter((code: string) => code === "53300").length, 25);
    assert.match(out.hints.find(Boolean), /maxPinnedBackendsPerUser \(5/);
    assert.equal(out.idle_in_transaction, 5);
  },
  // PGlite is one session: there an open transaction holds it for everyone, for at most 5 s.
  { only: ["postgres"] },
);
