/** The remote-login door's site settings (admin page "Remote login sites"). */
import { badRequest } from "../../errors.ts";
import { type DeclaredPhiLevel, parseDeclaredPhiLevel } from "../../security/phi.ts";
import type { SettingsSection } from "../../settings.ts";

interface RemoteLoginSettings {
  /** Accept any http(s) returnUrl, registered or not: for development only. */
  allowAnyReturnUrl: boolean;
  /** Minutes a token lives at most; it also dies with the browser session. */
  tokenMinutes: number;
  /** verifyToken.view calls allowed per client address per minute. */
  verifyPerMinute: number;
  /**
   * The PHI level cooperating sites are told is in force for their users
   * (verifyToken.view answers it): the site shows PHI columns only up to it.
   */
  phiLevel: DeclaredPhiLevel;
}

function whole(value: unknown, label: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw badRequest(`${label} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export const remoteLoginSettings: SettingsSection<RemoteLoginSettings> = {
  key: "remote_login",
  defaults: {
    allowAnyReturnUrl: false,
    tokenMinutes: 60,
    verifyPerMinute: 600,
    phiLevel: "not_phi",
  },
  validate(value) {
    const v = value as Partial<RemoteLoginSettings>;
    return {
      allowAnyReturnUrl: v.allowAnyReturnUrl === true,
      tokenMinutes: whole(v.tokenMinutes, "Token lifetime", 1, 60 * 24 * 30),
      verifyPerMinute: whole(v.verifyPerMinute, "Verify calls per minute", 1, 1_000_000),
      phiLevel: parseDeclaredPhiLevel(v.phiLevel),
    };
  },
};
