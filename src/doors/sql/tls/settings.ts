/** Where the SQL door's TLS certificate comes from (page "External Analytics Connections"). */
import { badRequest } from "../../../errors.ts";
import type { SettingsSection } from "../../../settings.ts";

export type CertificateSource = "files" | "self_signed";

interface TlsSettings {
  /** `files`: LABGATE_TLS_CERT_FILE and _KEY_FILE; `self_signed`: made and rotated here. */
  source: CertificateSource;
  /** Validity of newly generated self-signed certificates, 1–3650 days. */
  validityDays: number;
}

export const tlsSettings: SettingsSection<TlsSettings> = {
  key: "tls",
  defaults: { source: "self_signed", validityDays: 365 },
  validate(value) {
    const v = value as Partial<TlsSettings>;
    if (v.source !== "files" && v.source !== "self_signed") {
      throw badRequest(`Certificate source must be "files" or "self_signed", got "${v.source}"`);
    }
    const days = Number(v.validityDays);
    if (!Number.isInteger(days) || days < 1 || days > 3650) {
      throw badRequest(
        `Validity period must be a whole number of days from 1 to 3650, got "${v.validityDays}"`,
      );
    }
    return { source: v.source, validityDays: days };
  },
};
