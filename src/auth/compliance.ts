/**
 * Declarations made at login (terms of use, IRB number, PHI level). When the
 * site requires them, a browser or API login gives them or is refused; they
 * are stored on the session and logged with every access it makes.
 */
import { badRequest } from "../errors.ts";
import type { Services } from "../services.ts";
import type { SettingsSection } from "../settings.ts";
import type { Compliance } from "../core/actor.ts";

export const PHI_LEVELS = {
  none: "Not PHI",
  limited: "Limited PHI",
  full: "Full PHI",
} as const;

export interface ComplianceSettings {
  /** Ask every login for the declarations below. */
  required: boolean;
  /** The terms of use shown at login, and their version (logged with each acceptance). */
  termsText: string;
  termsVersion: string;
}

export const complianceSettings: SettingsSection<ComplianceSettings> = {
  key: "compliance",
  defaults: { required: false, termsText: "", termsVersion: "" },
  validate(value) {
    const v = value as Partial<ComplianceSettings>;
    const termsText = typeof v.termsText === "string" ? v.termsText.trim() : "";
    const termsVersion = typeof v.termsVersion === "string" ? v.termsVersion.trim() : "";
    if (v.required === true && (!termsText || !termsVersion)) {
      throw badRequest("Give the terms of use and their version when declarations are required");
    }
    if (termsVersion.length > 100) throw badRequest("The terms version is at most 100 characters");
    return { required: v.required === true, termsText, termsVersion };
  },
};

/** What a login form or API body submitted, before checking. */
interface Declarations {
  termsAccepted?: unknown;
  irbNumber?: unknown;
  phiLevel?: unknown;
}

/**
 * The compliance to store on a new session: null when the site requires none,
 * otherwise the checked declarations; throws 400 saying what is missing.
 */
export async function checkDeclarations(
  svc: Services,
  input: Declarations | null | undefined,
): Promise<Compliance | null> {
  const settings = await svc.settings.get(complianceSettings);
  if (!settings.required) return null;
  const accepted = input?.termsAccepted === true || input?.termsAccepted === "on";
  if (!accepted) throw badRequest("Accept the terms of use to sign in");
  const irb = typeof input?.irbNumber === "string" ? input.irbNumber.trim() : "";
  if (!irb || irb.length > 100) throw badRequest("Give your IRB number (at most 100 characters)");
  const phi = input?.phiLevel;
  if (typeof phi !== "string" || !Object.hasOwn(PHI_LEVELS, phi)) {
    throw badRequest(`Choose a PHI level: ${Object.keys(PHI_LEVELS).join(", ")}`);
  }
  return {
    termsAccepted: true,
    termsVersion: settings.termsVersion,
    irbNumber: irb,
    phiLevel: phi as Compliance["phiLevel"],
  };
}
