import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { openDatabase } from "../../../../../src/db/mod.ts";
import { createServices } from "../../../../../src/services.ts";
import { sqlDoorSettings } from "../../../../../src/doors/sql/settings.ts";
import {
  describeCertificate,
  generateCertificate,
} from "../../../../../src/doors/sql/tls/certificate.ts";
import {
  ensureCertificate,
  getTlsMaterial,
  regenerateCertificate,
  tlsSettings,
  useConfiguredCertificate,
} from "../../../../../src/doors/sql/tls/mod.ts";
import { backendTest } from "../../../../_support/backends.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

backendTest("ensureCertificate() makes and stores one certificate for the settings", async (t) => {
  await t.svc.settings.set(tlsSettings, { source: "self_signed", validityDays: 10 });
  await t.svc.settings.set(sqlDoorSettings, {
    ...sqlDoorSettings.defaults,
    hostOverride: "db.lab.example",
  });
  const first = await ensureCertificate(t.svc);
  assert.ok(first);
  assert.equal(first.notAfter.getTime() - first.notBefore.getTime(), 10 * DAY_MS + 60_000);
  const san = new x509.X509Certificate(first.certPem).getExtension(
    x509.SubjectAlternativeNameExtension,
  );
  assert.deepEqual(san?.names.items.map((n) => n.value), [
    "db.lab.example",
    "localhost",
    "127.0.0.1",
    "::1",
  ]);
  const again = await ensureCertificate(t.svc);
  assert.equal(again?.fingerprint, first.fingerprint);
  assert.deepEqual(await getTlsMaterial(t.svc), { key: first.keyPem, cert: first.certPem });
  const rows = await t.svc.db.selectFrom("tls_certificates").selectAll().execute();
  assert.equal(rows.length, 1);
  assert.equal(rows[0].key_encrypted, false);
});

backendTest("ensureCertificate() replaces a certificate that expires within a day", async (t) => {
  await t.svc.settings.set(tlsSettings, { source: "self_signed", validityDays: 3 });
  const old = await ensureCertificate(t.svc);
  t.advance(2 * DAY_MS + 60_000);
  assert.notEqual((await getTlsMaterial(t.svc))?.cert, old?.certPem);
  const fresh = await ensureCertificate(t.svc);
  assert.notEqual(fresh?.fingerprint, old?.fingerprint);
  assert.ok(fresh!.notAfter.getTime() - t.svc.now().getTime() > 2 * DAY_MS);
  const count = await t.svc.db.selectFrom("tls_certificates").select((eb) =>
    eb.fn.countAll<number>().as("n")
  ).executeTakeFirstOrThrow();
  assert.equal(Number(count.n), 2);
});

backendTest("ensureCertificate() follows a changed host name override", async (t) => {
  const old = await ensureCertificate(t.svc);
  await t.svc.settings.set(sqlDoorSettings, {
    ...sqlDoorSettings.defaults,
    hostOverride: "new.lab.example",
  });
  const material = await getTlsMaterial(t.svc);
  assert.notEqual(material?.cert, old?.certPem);
  const cert = new x509.X509Certificate(material!.cert);
  assert.equal(
    cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items[0].value,
    "new.lab.example",
  );
});

backendTest(
  "regenerateCertificate() makes a new certificate with a different fingerprint",
  async (t) => {
    const old = await ensureCertificate(t.svc);
    const made = await regenerateCertificate(t.svc);
    assert.notEqual(made.fingerprint, old?.fingerprint);
    assert.equal((await ensureCertificate(t.svc))?.fingerprint, made.fingerprint);
    const material = await getTlsMaterial(t.svc);
    assert.notEqual(material?.cert, old?.certPem);
  },
);

backendTest(
  "ensureCertificate() seals the stored key when LABGATE_SECRET_KEY is set",
  async (t) => {
    const made = await ensureCertificate(t.svc);
    const row = await t.svc.db.selectFrom("tls_certificates").selectAll().executeTakeFirstOrThrow();
    assert.equal(row.key_encrypted, true);
    assert.doesNotMatch(row.key_pem, /PRIVATE KEY/);
    assert.match(made!.keyPem, /^-----BEGIN PRIVATE KEY-----/);
    const other = createServices({ ...t.config, secretKey: "another secret" }, t.svc.database);
    await assert.rejects(ensureCertificate(other), /cannot be decrypted: set LABGATE_SECRET_KEY/);
  },
  { env: { LABGATE_SECRET_KEY: "correct horse battery staple" } },
);

backendTest(
  "ensureCertificate() uses the configured files when that source is chosen",
  async (t) => {
    await t.svc.settings.set(tlsSettings, { source: "files", validityDays: 365 });
    assert.equal(await ensureCertificate(t.svc), null);
    assert.equal(await getTlsMaterial(t.svc), null);
    const files = await generateCertificate(["files.example"], {
      validityDays: 5,
      now: new Date(),
    });
    await useConfiguredCertificate(t.svc, { certPem: files.certPem, keyPem: files.keyPem });
    assert.deepEqual(await getTlsMaterial(t.svc), { key: files.keyPem, cert: files.certPem });
    await assert.rejects(
      useConfiguredCertificate(t.svc, { certPem: "nonsense", keyPem: files.keyPem }),
      /not a PEM X\.509 certificate/,
    );
    const rows = await t.svc.db.selectFrom("tls_certificates").selectAll().execute();
    assert.equal(rows.length, 0);
  },
);

backendTest(
  "ensureCertificate() called at once by two instances makes one new certificate",
  async (t) => {
    await t.svc.settings.set(tlsSettings, { source: "self_signed", validityDays: 1 });
    const old = await ensureCertificate(t.svc);
    t.advance(2 * DAY_MS);
    // A second instance on the same PostgreSQL database; on PGlite, the same one twice.
    const second = t.url ? await openDatabase({ url: t.url, poolSize: 2 }) : null;
    try {
      const other = second ? createServices(t.config, second, { now: () => t.svc.now() }) : t.svc;
      const results = await Promise.all([
        ensureCertificate(t.svc),
        ensureCertificate(other),
        ensureCertificate(t.svc),
        ensureCertificate(other),
      ]);
      const fingerprints = new Set(results.map((r) => r?.fingerprint));
      assert.equal(fingerprints.size, 1);
      assert.ok(!fingerprints.has(old?.fingerprint));
      const rows = await t.svc.db.selectFrom("tls_certificates").select("fingerprint").execute();
      assert.equal(rows.length, 2);
    } finally {
      await second?.close();
    }
  },
);

// On PGlite two Services share no invalidation bus: like an instance that missed the
// notification (PostgreSQL instances hear it at once: tests/src/invalidation_test.ts).
backendTest(
  "getTlsMaterial() follows an unannounced certificate change within a minute",
  async (t) => {
    const first = await getTlsMaterial(t.svc);
    const other = createServices(t.config, t.svc.database, { now: () => t.svc.now() });
    const made = await regenerateCertificate(other);
    assert.deepEqual(await getTlsMaterial(t.svc), first);
    t.advance(61_000);
    const followed = await getTlsMaterial(t.svc);
    assert.notEqual(followed?.cert, first?.cert);
    assert.equal(
      (await describeCertificate(followed!.cert)).fingerprint,
      made.fingerprint,
    );
  },
  { only: ["pglite"] },
);
