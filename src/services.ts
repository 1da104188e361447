/**
 * Everything a door needs, built once at start: configuration, the
 * database, the permission resolver, the audit log and the rate limiters.
 */
import type { Kysely } from "kysely";
import { AuditLog } from "./audit/mod.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/mod.ts";
import type { Schema } from "./db/schema.ts";
import { PermissionResolver } from "./security/permissions.ts";
import { RateLimiter } from "./security/rate_limit.ts";
import { SettingsStore } from "./settings.ts";

export interface Services {
  readonly config: Config;
  readonly database: Database;
  readonly db: Kysely<Schema>;
  readonly permissions: PermissionResolver;
  readonly audit: AuditLog;
  readonly settings: SettingsStore;
  /** Failed browser/API logins, keyed by account and by client address. */
  readonly loginFailures: RateLimiter;
  /** The clock; tests move it. */
  now(): Date;
}

export function createServices(
  config: Config,
  database: Database,
  options: { now?: () => Date; audit?: AuditLog } = {},
): Services {
  const now = options.now ?? (() => new Date());
  return {
    config,
    database,
    db: database.db,
    permissions: new PermissionResolver(database.db),
    audit: options.audit ?? new AuditLog(database.db),
    settings: new SettingsStore(database.db),
    loginFailures: new RateLimiter({ windowMs: config.loginWindowMinutes * 60_000, now }),
    now,
  };
}
