/** Self-signed certificates made with @peculiar/x509 over Web Crypto (ECDSA P-256). */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { toBase64, toHex } from "../../../security/secrets.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const IP_V4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export interface CertificateInfo {
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER certificate, lower-case hex. */
  fingerprint: string;
}

interface GeneratedCertificate extends CertificateInfo {
  certPem: string;
  /** PKCS#8 PEM of the ECDSA P-256 private key. */
  keyPem: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const lines = toBase64(new Uint8Array(der)).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Validity dates and fingerprint of a PEM certificate; throws when it does not parse. */
export async function describeCertificate(certPem: string): Promise<CertificateInfo> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (error) {
    throw new Error(
      `The TLS certificate is not a PEM X.509 certificate, check LABGATE_TLS_CERT_FILE: ${
        (error as Error).message
      }`,
    );
  }
  return {
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprint: toHex(new Uint8Array(await cert.getThumbprint("SHA-256"))),
  };
}

/**
 * A new key pair and a self-signed server certificate for `hosts` (DNS names
 * and IP addresses), valid from one minute before `now` for `validityDays`.
 */
export async function generateCertificate(
  hosts: string[],
  options: { validityDays: number; now: Date },
): Promise<GeneratedCertificate> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const notBefore = new Date(options.now.getTime() - 60_000);
  const notAfter = new Date(options.now.getTime() + options.validityDays * DAY_MS);
  const names = hosts.map((host) => ({
    type: IP_V4.test(host) || host.includes(":") ? "ip" as const : "dns" as const,
    value: host,
  }));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [hosts[0]] }, { O: ["labgate SQL door"] }],
    notBefore,
    notAfter,
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprint: toHex(new Uint8Array(await cert.getThumbprint("SHA-256"))),
  };
}
