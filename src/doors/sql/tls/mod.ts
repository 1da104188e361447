/**
 * TLS material for the SQL door. Two sources, chosen on the admin page:
 * PEM files named in the configuration (main.ts reads them and hands the text
 * to `useConfiguredCertificate`), or a self-signed certificate generated here
 * and kept in the database, so every labgate instance serves the same one.
 *
 * `ensureCertificate` (run at start and hourly) rotates the self-signed
 * certificate a day before it expires (halfway, for certificates valid under
 * two days) or when the host names change; several instances rotate safely
 * because the new certificate is made under a transaction-scoped advisory
 * lock, after checking again inside it.
 * `getTlsMaterial` answers from memory, for every new TLS connection, and
 * looks at the database again when any instance announces a new certificate
 * (`svc.invalidate`), and at least once a minute.
 */
import { type Kysely, type Selectable, sql } from "kysely";
import type { Schema, TlsCertificatesTable } from "../../../db/schema.ts";
import type { Services } from "../../../services.ts";
import { type SqlDoorSettings, sqlDoorSettings } from "../settings.ts";
import { type CertificateInfo, describeCertificate, generateCertificate } from "./certificate.ts";
import { openKey, sealKey } from "./key_seal.ts";
import { type CertificateSource, tlsSettings } from "./settings.ts";

export { tlsSettings } from "./settings.ts";

/** The settings key announced when the certificate in use changes. */
const CERTIFICATE_CHANGED = "tls_certificate";

const DAY_MS = 24 * 60 * 60 * 1000;
/** How long a certificate is served before asking the database again (others may rotate it). */
const RECHECK_MS = 60_000;
const WATCHED = new Set([CERTIFICATE_CHANGED, tlsSettings.key, sqlDoorSettings.key]);

/** A certificate with its private key: server-side only, never sent to a client. */
interface TlsCertificate extends CertificateInfo {
  source: CertificateSource;
  certPem: string;
  keyPem: string;
}

type CertificateRow = Selectable<TlsCertificatesTable>;

interface TlsState {
  configured: TlsCertificate | null;
  /** What `getTlsMaterial` serves; dropped on every settings or certificate change. */
  material: TlsCertificate | null;
  /** When `material` was last checked against the settings and the database (ms). */
  checkedAt: number;
  /** The check under way, shared by the connections that wait for it. */
  refresh: Promise<TlsCertificate | null> | null;
  /** Goes up with every change, so a check that started before one does not keep its answer. */
  generation: number;
}

const states = new WeakMap<Services, TlsState>();

function stateOf(svc: Services): TlsState {
  let state = states.get(svc);
  if (!state) {
    const created: TlsState = {
      configured: null,
      material: null,
      checkedAt: 0,
      refresh: null,
      generation: 0,
    };
    svc.settings.onChange((key) => {
      if (key !== null && !WATCHED.has(key)) return;
      created.material = null;
      created.refresh = null;
      created.generation++;
    });
    states.set(svc, created);
    state = created;
  }
  return state;
}

/** Uses the PEM certificate and key from LABGATE_TLS_CERT_FILE/LABGATE_TLS_KEY_FILE. */
export async function useConfiguredCertificate(
  svc: Services,
  pems: { certPem: string; keyPem: string },
): Promise<CertificateInfo> {
  const info = await describeCertificate(pems.certPem);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pems.keyPem)) {
    throw new Error("The TLS key file holds no PEM private key: check LABGATE_TLS_KEY_FILE");
  }
  stateOf(svc).configured = { ...info, source: "files", ...pems };
  svc.settings.invalidate(CERTIFICATE_CHANGED);
  return info;
}

/** The configured certificate's dates and fingerprint, or null when no files are configured. */
export function configuredCertificate(svc: Services): CertificateInfo | null {
  const configured = stateOf(svc).configured;
  return configured && {
    notBefore: configured.notBefore,
    notAfter: configured.notAfter,
    fingerprint: configured.fingerprint,
  };
}

/**
 * Names a self-signed certificate is made for: the host name override, else
 * the host of LABGATE_BASE_URL, then `localhost`, `127.0.0.1` and `::1`.
 */
function certificateHosts(svc: Services, settings: SqlDoorSettings): string[] {
  const own = settings.hostOverride ??
    (svc.config.baseUrl ? new URL(svc.config.baseUrl).hostname.replace(/^\[|\]$/g, "") : null);
  return [...new Set([own, "localhost", "127.0.0.1", "::1"].filter((h): h is string => !!h))];
}

function latest(db: Kysely<Schema>): Promise<CertificateRow | undefined> {
  return db.selectFrom("tls_certificates").selectAll().orderBy("id", "desc").limit(1)
    .executeTakeFirst();
}

/** A day before expiry, or halfway through the life of a certificate valid for under two days. */
function dueForRenewal(dates: { notBefore: Date; notAfter: Date }, now: Date): boolean {
  const lifetime = dates.notAfter.getTime() - dates.notBefore.getTime();
  return dates.notAfter.getTime() - now.getTime() <= Math.min(DAY_MS, lifetime / 2);
}

function isCurrent(row: CertificateRow | undefined, hosts: string[], now: Date): boolean {
  return !!row && row.hosts === hosts.join(",") &&
    !dueForRenewal({ notBefore: row.not_before, notAfter: row.not_after }, now);
}

/** Inserts a new self-signed certificate under the advisory lock, unless another made one. */
async function rotate(svc: Services, options: { force: boolean }): Promise<CertificateRow> {
  const hosts = certificateHosts(svc, await svc.settings.get(sqlDoorSettings));
  const { validityDays } = await svc.settings.get(tlsSettings);
  const row = await svc.db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('lg_app.tls_certificates'))`.execute(trx);
    const current = await latest(trx);
    if (!options.force && isCurrent(current, hosts, svc.now())) return current!;
    const made = await generateCertificate(hosts, { validityDays, now: svc.now() });
    const secret = svc.config.secretKey;
    return await trx.insertInto("tls_certificates").values({
      not_before: made.notBefore,
      not_after: made.notAfter,
      fingerprint: made.fingerprint,
      hosts: hosts.join(","),
      cert_pem: made.certPem,
      key_pem: secret
        ? await sealKey(made.keyPem, { secret, fingerprint: made.fingerprint })
        : made.keyPem,
      key_encrypted: !!secret,
    }).returningAll().executeTakeFirstOrThrow();
  });
  // Every instance serves the new certificate to its next TLS connection.
  await svc.invalidate.publish({ kind: "settings", key: CERTIFICATE_CHANGED });
  return row;
}

async function unseal(svc: Services, row: CertificateRow): Promise<TlsCertificate> {
  let keyPem = row.key_pem;
  if (row.key_encrypted) {
    if (!svc.config.secretKey) {
      throw new Error(
        "The stored TLS private key is encrypted: set LABGATE_SECRET_KEY, or regenerate the certificate",
      );
    }
    keyPem = await openKey(keyPem, { secret: svc.config.secretKey, fingerprint: row.fingerprint });
  }
  return {
    source: "self_signed",
    certPem: row.cert_pem,
    keyPem,
    notBefore: row.not_before,
    notAfter: row.not_after,
    fingerprint: row.fingerprint,
  };
}

/** The newest self-signed certificate, after rotating it if it is due or names other hosts. */
async function currentRow(svc: Services): Promise<CertificateRow> {
  const hosts = certificateHosts(svc, await svc.settings.get(sqlDoorSettings));
  const row = await latest(svc.db);
  return isCurrent(row, hosts, svc.now()) ? row! : await rotate(svc, { force: false });
}

/** A self-signed certificate's dates, fingerprint and names, without its key. */
interface SelfSignedInfo extends CertificateInfo {
  hosts: string[];
}

function selfSignedInfo(row: CertificateRow): SelfSignedInfo {
  return {
    notBefore: row.not_before,
    notAfter: row.not_after,
    fingerprint: row.fingerprint,
    hosts: row.hosts.split(","),
  };
}

/**
 * The certificate in use, after rotating the self-signed one if it expires
 * within a day or no longer names the configured hosts. Null when the source
 * is configured files but main.ts passed none.
 */
export async function ensureCertificate(svc: Services): Promise<TlsCertificate | null> {
  const state = stateOf(svc);
  let certificate: TlsCertificate | null;
  // A change announced meanwhile (a rotation here or elsewhere) may make what was read stale:
  // read again, a few times at most.
  for (let attempt = 1;; attempt++) {
    const generation = state.generation;
    const { source } = await svc.settings.get(tlsSettings);
    certificate = source === "self_signed"
      ? await unseal(svc, await currentRow(svc))
      : state.configured;
    if (generation === state.generation || attempt === 3) break;
  }
  state.material = certificate;
  state.checkedAt = svc.now().getTime();
  return certificate;
}

/** Makes a new self-signed certificate now ("Regenerate now"), whatever the old one's dates. */
export async function regenerateCertificate(svc: Services): Promise<SelfSignedInfo> {
  return selfSignedInfo(await rotate(svc, { force: true }));
}

/** The self-signed certificate to serve (made or rotated first when due), without its key. */
export async function selfSignedCertificate(svc: Services): Promise<SelfSignedInfo> {
  return selfSignedInfo(await currentRow(svc));
}

/**
 * Key and certificate PEM for a new TLS connection, from memory: checked
 * again after every settings or certificate change (on any instance), when
 * it is due for renewal, and once a minute.
 */
export async function getTlsMaterial(svc: Services): Promise<{ key: string; cert: string } | null> {
  const state = stateOf(svc);
  let certificate = state.material;
  const now = svc.now();
  const due = !certificate ||
    (certificate.source === "self_signed" && dueForRenewal(certificate, now));
  if (due || now.getTime() - state.checkedAt >= RECHECK_MS) {
    if (!state.refresh) {
      const refresh: Promise<TlsCertificate | null> = ensureCertificate(svc).finally(() => {
        if (state.refresh === refresh) state.refresh = null;
      });
      state.refresh = refresh;
    }
    try {
      certificate = await state.refresh;
    } catch (error) {
      // A failed routine check keeps serving the certificate that is still good.
      if (due) throw error;
    }
  }
  return certificate && { key: certificate.keyPem, cert: certificate.certPem };
}

/** When the certificate served now expires (null before the first check): metrics and /readyz. */
export function servedCertificateExpiry(svc: Services): Date | null {
  return stateOf(svc).material?.notAfter ?? null;
}

/** The certificate in use as PEM, for download (never the key); null when there is none. */
export async function certificateInUse(svc: Services): Promise<string | null> {
  const { source } = await svc.settings.get(tlsSettings);
  if (source === "files") return stateOf(svc).configured?.certPem ?? null;
  return (await currentRow(svc)).cert_pem;
}
