/** The token door's site settings (shown on the External apps admin page). */
import { badRequest } from "../../errors.ts";
import type { SettingsSection } from "../../settings.ts";

interface TokenSettings {
  /** How many external apps may be registered, built-in ones included. */
  maxApps: number;
  /** Security policy "Allow token in request": accept `?token=` in the URL. */
  allowTokenInRequest: boolean;
}

export const tokenSettings: SettingsSection<TokenSettings> = {
  key: "tokens",
  defaults: { maxApps: 20, allowTokenInRequest: false },
  validate(value) {
    const v = value as Partial<TokenSettings>;
    const maxApps = Number(v.maxApps);
    if (!Number.isInteger(maxApps) || maxApps < 1 || maxApps > 10_000) {
      throw badRequest(`Maximum apps must be a whole number from 1 to 10000, got "${v.maxApps}"`);
    }
    return { maxApps, allowTokenInRequest: v.allowTokenInRequest === true };
  },
};
