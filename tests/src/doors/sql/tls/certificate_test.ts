import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { once } from "node:events";
import tls from "node:tls";
import {
  describeCertificate,
  generateCertificate,
} from "../../../../../src/doors/sql/tls/certificate.ts";
import { openssl, verifyServer } from "../../../../_support/openssl.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const HOSTS = ["db.lab.example", "localhost", "127.0.0.1", "::1"];

function pemBody(pem: string): Uint8Array<ArrayBuffer> {
  const base64 = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

Deno.test("generateCertificate() makes a P-256 certificate with the SANs and validity", async () => {
  const now = new Date("2026-01-10T12:00:00Z");
  const made = await generateCertificate(HOSTS, { validityDays: 30, now });
  const cert = new x509.X509Certificate(made.certPem);
  assert.equal(made.notAfter.getTime() - now.getTime(), 30 * DAY_MS);
  assert.equal(cert.notAfter.getTime(), made.notAfter.getTime());
  assert.ok(cert.notBefore <= now);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(san?.names.toJSON(), [
    { type: "dns", value: "db.lab.example" },
    { type: "dns", value: "localhost" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
  ]);
  assert.ok(await cert.verify({ signatureOnly: true }));
  assert.deepEqual(await describeCertificate(made.certPem), {
    notBefore: made.notBefore,
    notAfter: made.notAfter,
    fingerprint: made.fingerprint,
  });
  assert.match(made.fingerprint, /^[0-9a-f]{64}$/);
  assert.doesNotMatch(made.certPem, /PRIVATE KEY/);

  const text = await openssl(["x509", "-noout", "-text"], made.certPem);
  assert.equal(text.code, 0, text.out);
  assert.match(text.out, /ASN1 OID: prime256v1/);
  assert.match(
    text.out,
    /DNS:db\.lab\.example, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/,
  );
  assert.match(text.out, /TLS Web Server Authentication/);
});

Deno.test("generateCertificate() returns a private key that matches the certificate", async () => {
  const made = await generateCertificate(HOSTS, { validityDays: 1, now: new Date() });
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    pemBody(made.keyPem),
    algorithm,
    false,
    [
      "sign",
    ],
  );
  const publicKey = await new x509.X509Certificate(made.certPem).publicKey.export(algorithm, [
    "verify",
  ]);
  const message = new TextEncoder().encode("labgate");
  const signature = await crypto.subtle.sign(algorithm, privateKey, message);
  assert.ok(await crypto.subtle.verify(algorithm, publicKey, signature, message));
  const check = await openssl(["pkey", "-pubout"], made.keyPem);
  const fromCert = await openssl(["x509", "-noout", "-pubkey"], made.certPem);
  assert.equal(check.code, 0, check.out);
  assert.equal(check.out, fromCert.out);
});

Deno.test("generateCertificate() material serves TLS that verifies for localhost", async () => {
  const made = await generateCertificate(HOSTS, { validityDays: 2, now: new Date() });
  const server = tls.createServer({ key: made.keyPem, cert: made.certPem }, (socket) => {
    socket.end("hello\n");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const dir = await Deno.makeTempDir();
  try {
    const caFile = `${dir}/ca.pem`;
    await Deno.writeTextFile(caFile, made.certPem);
    const good = await verifyServer(port, { caFile, hostname: "localhost" });
    assert.equal(good.code, 0, good.out);
    assert.match(good.out, /Verify return code: 0 \(ok\)/);
    const wrongName = await verifyServer(port, { caFile, hostname: "elsewhere.example" });
    assert.notEqual(wrongName.code, 0);

    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [made.certPem],
    });
    await conn.handshake();
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "hello\n");
    conn.close();
  } finally {
    server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
