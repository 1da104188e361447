import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createVerifier, ScramServerExchange } from "../../../src/security/scram.ts";
import { PostgresEngine } from "../../../wire/backend/postgres.ts";
import { parseTarget } from "../../../wire/backend/postgres_connect.ts";
import { concat, decodeText, encodeText, Reader } from "../../../wire/protocol/bytes.ts";
import { WireError } from "../../../wire/protocol/errors.ts";
import { MessageBuffer } from "../../../wire/protocol/message_buffer.ts";
import { AuthCode } from "../../../wire/protocol/message_codes.ts";
import {
  authentication,
  authenticationSasl,
  backendKeyData,
  errorResponse,
  parameterStatus,
  readyForQuery,
} from "../../../wire/protocol/messages.ts";

Deno.test("parseTarget() reads host, port, credentials and Unix sockets", () => {
  assert.deepEqual(parseTarget("postgres://lab%40x:p%40ss@db.example:6543/labgate"), {
    host: "db.example",
    port: 6543,
    unixPath: undefined,
    user: "lab@x",
    password: "p@ss",
    database: "labgate",
  });
  assert.equal(
    parseTarget("postgresql://u@localhost/db?host=/var/run/postgresql").unixPath,
    "/var/run/postgresql/.s.PGSQL.5432",
  );
  assert.throws(() => parseTarget("postgres://u@h/db?sslmode=require"), /sslmode=require/);
});

type Method = "trust" | "password" | "md5" | "scram";

/** A server that authenticates like PostgreSQL with `method`, then reports a version. */
function fakeServer(method: Method, password: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: string[] = [];
  const serve = async (conn: Deno.Conn) => {
    const buffer = new MessageBuffer({ maxLength: 100_000 });
    const read = async (startup = false) => {
      for (;;) {
        const message = startup ? buffer.nextStartup() : buffer.next();
        if (message) return message;
        const chunk = new Uint8Array(4096);
        const n = await conn.read(chunk);
        if (n === null) throw new Error("client left");
        buffer.push(chunk.slice(0, n));
      }
    };
    const send = (...messages: Uint8Array[]) => conn.write(concat(messages));
    await read(true);
    let ok = true;
    if (method === "password") {
      await send(authentication(AuthCode.CleartextPassword));
      ok = new Reader(await read(), 5).cstr() === password;
    } else if (method === "md5") {
      const salt = new Uint8Array([1, 2, 3, 4]);
      await send(authentication(AuthCode.MD5Password, salt));
      const inner = createHash("md5").update(password + "lab").digest("hex");
      const expected = "md5" +
        createHash("md5").update(concat([encodeText(inner), salt])).digest("hex");
      ok = new Reader(await read(), 5).cstr() === expected;
    } else if (method === "scram") {
      const exchange = new ScramServerExchange(await createVerifier(password));
      await send(authenticationSasl());
      const first = new Reader(await read(), 5);
      seen.push(first.cstr());
      const data = first.bytes(first.i32());
      await send(authentication(AuthCode.SASLContinue, exchange.serverFirst(decodeText(data))));
      const final = await exchange.serverFinal(decodeText((await read()).subarray(5)))
        .catch(() => null);
      ok = final !== null;
      if (final) await send(authentication(AuthCode.SASLFinal, final));
    }
    if (!ok) {
      await send(errorResponse(new WireError("28P01", "password authentication failed")));
    } else {
      await send(
        authentication(AuthCode.Ok),
        parameterStatus("server_version", "15.99 (fake)"),
        parameterStatus("DateStyle", "ISO, MDY"),
        backendKeyData(42, 7),
        readyForQuery(0x49),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    conn.close();
  };
  void (async () => {
    for await (const conn of listener) void serve(conn).catch(() => {});
  })();
  return { port: (listener.addr as Deno.NetAddr).port, seen, close: () => listener.close() };
}

for (const method of ["trust", "password", "md5", "scram"] as Method[]) {
  Deno.test(`PostgresEngine logs in to the backend with ${method}`, async () => {
    const server = fakeServer(method, "s3cret:/@");
    try {
      const engine = new PostgresEngine(
        `postgres://lab:${encodeURIComponent("s3cret:/@")}@127.0.0.1:${server.port}/labgate`,
        { size: () => 2 },
      );
      const info = await engine.info();
      assert.equal(info.serverVersion, "15.99 (fake)");
      assert.equal(info.settings.get("DateStyle"), "ISO, MDY");
      if (method === "scram") assert.deepEqual(server.seen, ["SCRAM-SHA-256"]);
      await engine.close();
      const wrong = new PostgresEngine(`postgres://lab:nope@127.0.0.1:${server.port}/labgate`, {
        size: () => 2,
      });
      if (method === "trust") return await wrong.close();
      await assert.rejects(wrong.info(), /password authentication failed/);
      await wrong.close();
    } finally {
      server.close();
    }
  });
}
