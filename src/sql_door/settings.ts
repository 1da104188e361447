/**
 * Site settings of the SQL door (section `sql_door`): whether it accepts
 * connections, where, and its limits. Changes apply without a restart: the
 * door listens to the settings store and re-listens when the port changes.
 */
import { z } from "zod";
import { badRequest } from "../errors.ts";
import type { SettingsSection } from "../settings.ts";

const whole = (min: number, max: number) => z.number().int().min(min).max(max);

const schema = z.object({
  /** Accept connections at all ("Allow connections" on the admin page). */
  enabled: z.boolean(),
  port: whole(1, 65535),
  /** Refuse clients that do not upgrade to TLS. */
  requireTls: z.boolean(),
  /** Accept `apikey`/`token` passwords without TLS from the same machine. */
  allowLoopbackCleartext: z.boolean(),
  /** Client connections at once, all users together. */
  maxConnections: whole(1, 100_000),
  maxConnectionsPerUser: whole(1, 10_000),
  /** PostgreSQL sessions the door opens at most (PGlite has one). */
  backendConnections: whole(1, 1000),
  /** A connection doing nothing for this long is closed. */
  idleTimeoutMinutes: whole(1, 7 * 24 * 60),
  /** A connection that keeps a transaction (or cursors) open and idle for this long is closed. */
  idleInTransactionSeconds: whole(1, 24 * 60 * 60),
  /** Statements running longer are canceled by the engine. */
  statementTimeoutSeconds: whole(1, 24 * 60 * 60),
});

export type SqlDoorSettings = z.infer<typeof schema>;

export const sqlDoorSettings: SettingsSection<SqlDoorSettings> = {
  key: "sql_door",
  defaults: {
    enabled: false,
    port: 5435,
    requireTls: false,
    allowLoopbackCleartext: false,
    maxConnections: 500,
    maxConnectionsPerUser: 50,
    backendConnections: 20,
    idleTimeoutMinutes: 8 * 60,
    idleInTransactionSeconds: 300,
    statementTimeoutSeconds: 300,
  },
  validate(value) {
    const result = schema.strict().safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw badRequest(
        `SQL door setting ${issue.path.join(".") || "value"} is not valid: ${issue.message}`,
        result.error.issues,
      );
    }
    return result.data;
  },
};
