/**
 * Everything a door needs, built once at start: configuration, the
 * database, the permission resolver, the audit log, the sign-in back-off and
 * the cache-invalidation bus shared with the other instances.
 */
import type { Kysely } from "kysely";
import { AuditLog } from "./audit/mod.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/mod.ts";
import type { Schema } from "./db/schema.ts";
import { InvalidationBus } from "./invalidation.ts";
import { LabgateMetrics } from "./ops/labgate_metrics.ts";
import { PermissionResolver } from "./security/permissions.ts";
import { LoginThrottle } from "./security/login_throttle.ts";
import { SettingsStore } from "./settings.ts";

export interface Services {
  readonly config: Config;
  readonly database: Database;
  readonly db: Kysely<Schema>;
  readonly permissions: PermissionResolver;
  readonly audit: AuditLog;
  readonly settings: SettingsStore;
  /** Tells this and every other instance to drop cached data that a change made stale. */
  readonly invalidate: InvalidationBus;
  /** Failed sign-ins on every door, keyed by account and by client address, in the database. */
  readonly loginThrottle: LoginThrottle;
  /**
   * The port this instance's SQL door listens on (null: not listening), which
   * LABGATE_SQL_DOOR_PORT may set apart from the setting: connection snippets
   * show it. The door keeps it current.
   */
  readonly sqlDoorListening: { port: number | null };
  /** What /metrics reports; doors and main.ts add to it. */
  readonly metrics: LabgateMetrics;
  /** The clock; tests move it. */
  now(): Date;
}

export function createServices(
  config: Config,
  database: Database,
  options: { now?: () => Date; audit?: AuditLog } = {},
): Services {
  const now = options.now ?? (() => new Date());
  const invalidate = new InvalidationBus(database.notifications);
  const permissions = new PermissionResolver(database.db);
  invalidate.subscribe((event) => {
    if (event.kind === "permissions" || event.kind === "all") permissions.invalidate();
  });
  const audit = options.audit ?? new AuditLog(database);
  const metrics = new LabgateMetrics();
  audit.observe(metrics.audit);
  if (database.engine.kind === "pglite") metrics.observeEmbedded(database.engine.pglite);
  return {
    config,
    database,
    db: database.db,
    permissions,
    audit,
    sqlDoorListening: { port: null },
    metrics,
    settings: new SettingsStore(database.db, invalidate),
    invalidate,
    loginThrottle: new LoginThrottle(database.db, {
      windowMs: config.loginWindowMinutes * 60_000,
      now,
    }),
    now,
  };
}
