/** The SQL door's site settings (admin page "External Analytics Connections"). */
import { badRequest } from "../errors.ts";
import type { SettingsSection } from "../settings.ts";

export interface SqlDoorSettings {
  /** Accept connections at all. */
  enabled: boolean;
  /** TCP port, 1–65535; a change applies without restarting labgate. */
  port: number;
  /** Host name shown to users instead of the server's own (no scheme, no port). */
  hostOverride: string | null;
  /** Refuse clients that do not upgrade to TLS (FATAL 28000). */
  requireTls: boolean;
  /** Let `apikey`/`token` logins send their secret without TLS from loopback addresses. */
  allowLoopbackCleartext: boolean;
}

const HOST =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const sqlDoorSettings: SettingsSection<SqlDoorSettings> = {
  key: "sql_door",
  defaults: {
    enabled: true,
    port: 5435,
    hostOverride: null,
    requireTls: false,
    allowLoopbackCleartext: false,
  },
  validate(value) {
    const v = value as Partial<SqlDoorSettings>;
    const port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw badRequest(`Port must be a whole number from 1 to 65535, got "${v.port}"`);
    }
    let host = typeof v.hostOverride === "string" ? v.hostOverride.trim() : "";
    if (host) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) || host.includes("/")) {
        throw badRequest("Host name must not include a scheme or a path, e.g. db.lab.example");
      }
      if (/:\d+$/.test(host)) {
        throw badRequest("Host name must not include a port: set Port instead");
      }
      if (!HOST.test(host) && !/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) {
        throw badRequest(`"${host}" is not a valid host name`);
      }
    } else host = "";
    return {
      enabled: v.enabled === true,
      port,
      hostOverride: host || null,
      requireTls: v.requireTls === true,
      allowLoopbackCleartext: v.allowLoopbackCleartext === true,
    };
  },
};
