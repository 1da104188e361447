import assert from "node:assert/strict";
import pg from "pg";
import { backendTest } from "../_support/backends.ts";
import { ALICE, BOB, FOLDER, makeCertificate, openDoor, SECRET_FOLDER } from "../wire/_door.ts";
import { installed, run, skipped } from "./_clients.ts";

function conninfo(port: number, extra = "", user = ALICE.email, database = FOLDER): string {
  return `host=127.0.0.1 port=${port} dbname=${database} user=${user} sslmode=disable ${extra}`;
}

function psql(info: string, password: string, ...args: string[]) {
  return run("psql", ["-X", "-A", "-t", "-F", "|", info, ...args], {
    env: { PGPASSWORD: password, PGCONNECT_TIMEOUT: "10" },
  });
}

backendTest("psql reads every list column type", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t);
  const out = await psql(
    conninfo(fx.port),
    ALICE.password,
    "-c",
    "select * from lists.samples order by id",
  );
  assert.equal(out.stderr, "");
  assert.deepEqual(out.stdout.trim().split("\n"), [
    '1|alpha|9007199254740993|12.345|0.5|t|2024-01-15|2024-01-15 10:30:00|2024-01-15 10:30:00+00|0b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6b|{"plate": 1, "wells": [1, 2]}',
    '2|beta, "quoted"|-5|0.001|-1.25|f|2023-12-31|2023-12-31 23:59:59|2023-12-31 21:59:59+00|1b6f1c3e-8f4a-4d8e-9a57-1c2d3e4f5a6c|{"plate": 2}',
    "3|gamma|||||||||",
  ]);
});

backendTest("psql runs COPY TO STDOUT and is refused writes", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t);
  const copy = await psql(
    conninfo(fx.port),
    ALICE.password,
    "-c",
    "\\copy (select id, label from lists.samples order by id) to stdout with csv",
  );
  assert.equal(copy.stdout, '1,alpha\n2,"beta, ""quoted"""\n3,gamma\n');
  const write = await psql(conninfo(fx.port), ALICE.password, "-c", "delete from lists.samples");
  assert.equal(write.code, 1);
  assert.match(write.stderr, /read-only/);
});

backendTest("psql's \\dt and \\d list the folder's lists and no physical name", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t);
  const lists = await psql(conninfo(fx.port), ALICE.password, "-c", "\\dt lists.*");
  assert.equal(lists.stderr, "");
  assert.match(lists.stdout, /^lists\|samples\|table\|/m);
  const all = await psql(conninfo(fx.port), ALICE.password, "-c", "\\dt *.*");
  assert.equal(all.stderr, "");
  assert.match(all.stdout, /^lists\|samples\|/m);
  assert.doesNotMatch(all.stdout, /hidden/);
  const table = await psql(conninfo(fx.port), ALICE.password, "-c", "\\d lists.samples");
  assert.equal(table.stderr, "");
  assert.match(table.stdout, /^id\|integer\|/m);
  assert.match(table.stdout, /^meta\|jsonb\|/m);
  for (const out of [lists, all, table]) {
    assert.doesNotMatch(out.stdout + out.stderr, /lg_/);
  }
});

backendTest("psql gets clear errors for a bad password and an unreadable folder", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t);
  const bad = await psql(conninfo(fx.port), "wrong-password", "-c", "select 1");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, new RegExp(`Password authentication failed for user "${ALICE.email}"`));
  const bob = await psql(conninfo(fx.port, "", BOB.email), BOB.password, "-c", "select 1");
  assert.match(bob.stderr, new RegExp(`database "${FOLDER}" does not exist`));
  const secret = await psql(conninfo(fx.port, "", ALICE.email, SECRET_FOLDER), ALICE.password);
  assert.match(secret.stderr, new RegExp(`database "${SECRET_FOLDER}" does not exist`));
});

backendTest("psql connects over TLS with sslmode=require and verify-full", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t, { tls: true });
  if (!fx.tls) return skipped("openssl");
  for (const mode of ["require", `verify-full sslrootcert=${fx.tls.certPath}`]) {
    for (const host of ["127.0.0.1", "localhost"]) {
      const info =
        `host=${host} port=${fx.port} dbname=${FOLDER} user=${ALICE.email} sslmode=${mode}`;
      const out = await run("psql", [
        "-X",
        "-A",
        "-t",
        info,
        "-c",
        "select label from lists.samples where id = 1",
        "-c",
        "\\conninfo",
      ], {
        env: { PGPASSWORD: ALICE.password },
      });
      assert.equal(out.stderr, "");
      assert.match(out.stdout, /^alpha\n/);
      assert.match(out.stdout, /SSL connection \(protocol: TLSv1\.[23]/);
    }
  }
  const wrongRoot = await makeCertificate();
  const refused = await psql(
    `host=localhost port=${fx.port} dbname=${FOLDER} user=${ALICE.email} sslmode=verify-full sslrootcert=${
      wrongRoot!.certPath
    }`,
    ALICE.password,
    "-c",
    "select 1",
  );
  assert.match(refused.stderr, /certificate verify failed/);
});

backendTest("a new certificate serves new connections while live ones carry on", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  await using fx = await openDoor(t, { tls: true });
  if (!fx.tls) return skipped("openssl");
  const live = new pg.Client({
    host: "localhost",
    port: fx.port,
    user: ALICE.email,
    password: ALICE.password,
    database: FOLDER,
    ssl: { ca: fx.tls.cert },
  });
  await live.connect();
  try {
    const next = (await makeCertificate())!;
    fx.setTls(next);
    const fresh = await psql(
      `host=localhost port=${fx.port} dbname=${FOLDER} user=${ALICE.email} sslmode=verify-full sslrootcert=${next.certPath}`,
      ALICE.password,
      "-c",
      "select 2",
    );
    assert.equal(fresh.stdout.trim(), "2");
    const old = await psql(
      `host=localhost port=${fx.port} dbname=${FOLDER} user=${ALICE.email} sslmode=verify-full sslrootcert=${fx.tls.certPath}`,
      ALICE.password,
      "-c",
      "select 3",
    );
    assert.match(old.stderr, /certificate verify failed/);
    assert.deepEqual((await live.query("select count(*)::int as n from lists.samples")).rows, [{
      n: 3,
    }]);
  } finally {
    await live.end();
  }
});

backendTest("psql cancels a running query on Ctrl-C", async (t) => {
  if (!await installed("psql")) return skipped("psql");
  if (t.backend === "pglite") {
    // PGlite runs a statement synchronously on the server's thread: nothing can interrupt it.
    return console.log(
      "SKIPPED on PGlite: a running statement cannot be canceled (see wire/README.md)",
    );
  }
  await using fx = await openDoor(t);
  const child = new Deno.Command("psql", {
    args: ["-X", conninfo(fx.port), "-c", "select pg_sleep(30)"],
    env: { PGPASSWORD: ALICE.password },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const started = Date.now();
  child.kill("SIGINT");
  const out = await child.output();
  assert.ok(Date.now() - started < 20_000, "the cancel should end the 30 s query early");
  assert.match(new TextDecoder().decode(out.stderr), /canceling statement due to user request/);
});
