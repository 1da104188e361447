/**
 * Private keys at rest: sealed with AES-256-GCM under a key derived (HKDF-SHA-256)
 * from LABGATE_SECRET_KEY, bound to the certificate's fingerprint.
 */
import { fromBase64, toBase64 } from "../../../security/secrets.ts";

const encoder = new TextEncoder();
const PREFIX = "v1:";

async function sealingKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, [
    "deriveKey",
  ]);
  return await crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(0),
      info: encoder.encode("labgate tls private key"),
    },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** `v1:<iv>:<ciphertext>` (base64) of `keyPem`, authenticated together with `fingerprint`. */
export async function sealKey(
  keyPem: string,
  options: { secret: string; fingerprint: string },
): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(options.fingerprint) },
    await sealingKey(options.secret),
    encoder.encode(keyPem),
  );
  return `${PREFIX}${toBase64(iv)}:${toBase64(new Uint8Array(sealed))}`;
}

/** The key PEM inside `sealed`; throws when the secret or the fingerprint does not match. */
export async function openKey(
  sealed: string,
  options: { secret: string; fingerprint: string },
): Promise<string> {
  const [iv, data] = sealed.startsWith(PREFIX) ? sealed.slice(PREFIX.length).split(":") : [];
  try {
    const plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: new Uint8Array(fromBase64(iv)),
        additionalData: encoder.encode(options.fingerprint),
      },
      await sealingKey(options.secret),
      new Uint8Array(fromBase64(data)),
    );
    return new TextDecoder().decode(plain);
  } catch {
    throw new Error(
      "The stored TLS private key cannot be decrypted: set LABGATE_SECRET_KEY to the value it was sealed with, or regenerate the certificate",
    );
  }
}
