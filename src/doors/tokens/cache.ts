/**
 * Tokens as the door sees them: the token, its app and its app user, read in
 * one query and trusted for at most `TOKEN_CACHE_MS`. Disabling an app or
 * changing a token publishes a `token` invalidation, which every instance
 * hears within milliseconds; the time limit covers a missed notification.
 */
import { sql } from "kysely";
import type { AuthToken, ExternalApp, User } from "../../db/schema.ts";
import { cachePerServices } from "../../security/credential_cache.ts";
import type { Services } from "../../services.ts";

/** A token read from the database is trusted this long before it is read again. */
export const TOKEN_CACHE_MS = 1_000;

/** What a use needs of the app (read as JSON, so no dates). */
export type AppFacts = Pick<
  ExternalApp,
  | "id"
  | "status"
  | "entry_rest"
  | "entry_sql"
  | "entry_action"
  | "rest_read_only"
  | "rest_paths"
  | "phi_level"
>;
/** What a use needs of a user (the app user is read as JSON, so no dates or verifier). */
export type UserFacts = Pick<
  User,
  | "id"
  | "email"
  | "display_name"
  | "user_type"
  | "active"
  | "department"
  | "external_app_id"
  | "must_change_password"
>;

export interface Loaded {
  token: AuthToken;
  app: AppFacts | null;
  appUser: UserFacts | null;
  /** The secret that matched the stored hash, so repeated uses skip the digest. */
  verified: string | null;
  /** `svc.permissions.epoch` when read: a user, group or role change here drops the entry. */
  epoch: number;
}

// Token and app changes on any instance (svc.invalidate); user, group and
// role changes move the permission epoch, which `fresh` below checks.
const cacheOf = cachePerServices<Loaded>(TOKEN_CACHE_MS, (cache, event) => {
  if (event.kind === "token") cache.drop(event.id);
  else if (event.kind === "all") cache.drop();
});

/** The token with its app and app user, in one round trip; cached for `TOKEN_CACHE_MS`. */
export async function loadToken(svc: Services, id: string): Promise<Loaded | null> {
  return await cacheOf(svc).get(id, svc.now().getTime(), async () => {
    const epoch = svc.permissions.epoch;
    const row = await svc.db.selectFrom("auth_tokens as t")
      .leftJoin("external_apps as a", "a.id", "t.app_id")
      .leftJoin("users as u", "u.id", "t.app_user_id")
      .selectAll("t")
      .select([
        sql<AppFacts | null>`to_jsonb(a)`.as("app"),
        sql<UserFacts | null>`to_jsonb(u) - 'password_verifier'`.as("app_user"),
      ])
      .where("t.id", "=", id).executeTakeFirst();
    if (!row) return null;
    const { app, app_user: appUser, ...token } = row;
    return { token, app, appUser, verified: null, epoch };
  }, (loaded) => loaded.epoch === svc.permissions.epoch);
}
