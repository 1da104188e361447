/** The key door's site settings (admin page "API keys"). */
import { badRequest } from "../../errors.ts";
import type { SettingsSection } from "../../settings.ts";

/** How long a new API key may live; admins choose which of these users may pick. */
export const EXPIRY_CHOICES = {
  "1w": { label: "1 week", days: 7 },
  "1m": { label: "1 month", days: 30 },
  "3m": { label: "3 months", days: 91 },
  "6m": { label: "6 months", days: 182 },
  "1y": { label: "1 year", days: 365 },
  "never": { label: "Never", days: null },
} as const;

export type Expiry = keyof typeof EXPIRY_CHOICES;

function isExpiry(value: unknown): value is Expiry {
  return typeof value === "string" && Object.hasOwn(EXPIRY_CHOICES, value);
}

interface KeySettings {
  /** Let users create API keys. */
  apiKeys: boolean;
  /** The expiry choices users may pick for a new API key, shortest first. */
  apiKeyExpiries: Expiry[];
  /** Let users create session keys bound to their browser session. */
  sessionKeys: boolean;
}

export const keySettings: SettingsSection<KeySettings> = {
  key: "keys",
  defaults: { apiKeys: false, apiKeyExpiries: ["1w", "1m", "3m"], sessionKeys: false },
  validate(value) {
    const v = value as Partial<KeySettings>;
    const expiries = Array.isArray(v.apiKeyExpiries) ? v.apiKeyExpiries : [];
    const unknown = expiries.find((e) => !isExpiry(e));
    if (unknown !== undefined) {
      throw badRequest(
        `Unknown API key expiry "${unknown}": use ${Object.keys(EXPIRY_CHOICES).join(", ")}`,
      );
    }
    const chosen = (Object.keys(EXPIRY_CHOICES) as Expiry[]).filter((e) => expiries.includes(e));
    if (v.apiKeys === true && !chosen.length) {
      throw badRequest("Allow at least one expiry choice when users may create API keys");
    }
    return {
      apiKeys: v.apiKeys === true,
      apiKeyExpiries: chosen,
      sessionKeys: v.sessionKeys === true,
    };
  },
};
