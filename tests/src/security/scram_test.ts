import assert from "node:assert/strict";
import {
  createVerifier,
  formatVerifier,
  parseVerifier,
  ScramClientExchange,
  ScramServerExchange,
  verifyPassword,
} from "../../../src/security/scram.ts";
import { fromBase64 } from "../../../src/security/secrets.ts";
import { backendTest } from "../../_support/backends.ts";
import pg from "pg";

// RFC 7677 section 3: user "user", password "pencil".
const SALT = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const CLIENT_FIRST = `n,,n=user,r=${CLIENT_NONCE}`;
const SERVER_FIRST = `r=${CLIENT_NONCE}${SERVER_NONCE},s=${SALT},i=4096`;
const CLIENT_FINAL =
  `c=biws,r=${CLIENT_NONCE}${SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`;
const SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

Deno.test("ScramServerExchange follows the RFC 7677 example exactly", async () => {
  const verifier = await createVerifier("pencil", { salt: fromBase64(SALT), iterations: 4096 });
  const server = new ScramServerExchange(verifier, SERVER_NONCE);
  assert.equal(server.serverFirst(CLIENT_FIRST), SERVER_FIRST);
  assert.equal(await server.serverFinal(CLIENT_FINAL), SERVER_FINAL);
});

Deno.test("ScramClientExchange produces the RFC 7677 client proof", async () => {
  const client = new ScramClientExchange("pencil", CLIENT_NONCE);
  assert.equal(client.clientFirst("user"), CLIENT_FIRST);
  assert.equal(await client.clientFinal(SERVER_FIRST), CLIENT_FINAL);
  assert.ok(client.verifyServerFinal(SERVER_FINAL));
  assert.ok(!client.verifyServerFinal("v=AAAA"));
});

Deno.test("ScramServerExchange refuses a wrong password and malformed messages", async () => {
  const verifier = await createVerifier("right password");
  const server = new ScramServerExchange(verifier);
  const client = new ScramClientExchange("wrong password");
  const first = server.serverFirst(client.clientFirst());
  await assert.rejects(async () => server.serverFinal(await client.clientFinal(first)), {
    name: "ScramError",
    message: "Password authentication failed",
  });
  assert.throws(() => new ScramServerExchange(verifier).serverFirst("garbage"));
  assert.throws(() => new ScramServerExchange(verifier).serverFirst("p=tls-unique,,n=,r=abc"));
});

Deno.test("formatVerifier() and parseVerifier() round-trip PostgreSQL's format", async () => {
  const verifier = await createVerifier("pencil", { salt: fromBase64(SALT), iterations: 4096 });
  const text = formatVerifier(verifier);
  assert.match(
    text,
    /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/,
  );
  assert.deepEqual(parseVerifier(text), verifier);
  assert.ok(await verifyPassword(parseVerifier(text), "pencil"));
  assert.ok(!await verifyPassword(parseVerifier(text), "pencil "));
});

backendTest("verifyPassword() accepts a verifier PostgreSQL itself computed", async (t) => {
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  try {
    const role = `lg_scram_${crypto.randomUUID().slice(0, 8)}`;
    await client.query(`set password_encryption = 'scram-sha-256'`);
    await client.query(`create role ${role} password 'pencil ünïcode'`);
    const { rows } = await client.query(`select rolpassword from pg_authid where rolname = $1`, [
      role,
    ]);
    await client.query(`drop role ${role}`);
    const verifier = parseVerifier(rows[0].rolpassword);
    assert.ok(await verifyPassword(verifier, "pencil ünïcode"));
    assert.ok(!await verifyPassword(verifier, "pencil unicode"));
  } finally {
    await client.end();
  }
}, { only: ["postgres"] });
