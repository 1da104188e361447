/**
 * `deno task admin …`: what an operator needs when the web UI is out of
 * reach — a locked-out admin, a leaked key, a certificate to rotate now. Runs
 * on the database directly (PostgreSQL while labgate runs: every instance
 * hears the change; the embedded database only while labgate is stopped) and
 * acts as a site admin (`--as`, else the first one), so every command is
 * checked and audited like the same action on the admin pages, door `system`.
 */
import { sql } from "kysely";
import { type Actor, auditActor } from "../core/actor.ts";
import { actorFor } from "../core/actor.ts";
import { issueOneTimePassword } from "../auth/one_time_password.ts";
import { getUserByEmail } from "../data/users.ts";
import { badRequest, notFound } from "../errors.ts";
import { listKeys, revokeKey } from "../doors/keys/mod.ts";
import type { Services } from "../services.ts";
import { regenerateCertificate } from "../doors/sql/tls/mod.ts";
import { listTokens, updateToken } from "../doors/tokens/tokens.ts";

export const ADMIN_USAGE = `deno task admin <command> [--as admin-email]

  reset-password EMAIL   a one-time password (printed once); the user's sessions end
  unlock EMAIL           forget the account's failed sign-ins (the back-off ends)
  keys [EMAIL]           list API and session keys (of one user)
  revoke-key ID          revoke an API or session key
  tokens                 list external-app auth tokens
  disable-token ID       disable an auth token
  rotate-certificate     a new self-signed SQL-door certificate now
  settings               show the site settings (JSON)`;

/** The site admin a command acts as: `--as`, else the first one made. */
async function commandActor(svc: Services, as: string | undefined): Promise<Actor> {
  const admin = await svc.db.selectFrom("role_assignments as r")
    .innerJoin("users as u", "u.id", "r.principal_id")
    .selectAll("u")
    .where("r.role", "=", "site_admin")
    .$if(as !== undefined, (q) => q.where(sql`lower(u.email)`, "=", as!.trim().toLowerCase()))
    .orderBy("u.id").executeTakeFirst();
  if (!admin) {
    throw badRequest(as ? `${as} is not a site admin` : "This database has no site admin yet");
  }
  return actorFor(admin, {
    credential: { kind: "cli", id: null },
    compliance: null,
    impersonatorId: null,
    door: "system",
    clientAddr: null,
  });
}

async function userOf(svc: Services, email: string | undefined) {
  if (!email) throw badRequest("Name the user by email");
  const user = await getUserByEmail(svc, email);
  if (!user) throw notFound(`No user ${email}`);
  return user;
}

const table = (rows: Record<string, unknown>[]) =>
  rows.map((row) =>
    Object.values(row).map((v) => v instanceof Date ? v.toISOString() : String(v ?? "-"))
      .join("\t")
  ).join("\n");

/** Runs one command; returns what to print. Bad input throws a LabgateError with the reason. */
export async function runAdminCommand(svc: Services, args: string[]): Promise<string> {
  const asIndex = args.indexOf("--as");
  const as = asIndex >= 0 ? args[asIndex + 1] : undefined;
  const [command, argument] = asIndex >= 0 ? args.toSpliced(asIndex, 2) : args;
  if (!command || command === "help" || command === "--help") return ADMIN_USAGE;
  const actor = await commandActor(svc, as);
  const audit = (event: string, detail: string | null = null) =>
    svc.audit.record({ ...auditActor(actor), event, outcome: "ok", detail });
  switch (command) {
    case "reset-password": {
      const user = await userOf(svc, argument);
      const { email, password } = await issueOneTimePassword(svc, actor, user.id);
      return `One-time password for ${email} (shown once; it must be changed at sign-in):\n${password}`;
    }
    case "unlock": {
      const user = await userOf(svc, argument);
      const account = user.email.toLowerCase();
      await svc.db.deleteFrom("login_throttle")
        .where((eb) =>
          eb.or([eb("key", "=", `account:${account}`), eb("key", "like", `pair:${account}|%`)])
        )
        .execute();
      audit("user.unlock", user.email);
      return `${user.email} may sign in again at once`;
    }
    case "keys": {
      audit("admin.keys", argument ?? null);
      const keys = await listKeys(svc, actor, { all: true });
      const shown = argument ? keys.filter((k) => k.userEmail === (argument.toLowerCase())) : keys;
      return table(shown.map((k) => ({
        id: k.id,
        kind: k.kind,
        user: k.userEmail,
        status: k.status,
        expires: k.expiresAt ?? "never",
        lastUsed: k.lastUsedAt,
      }))) || "No keys";
    }
    case "revoke-key": {
      if (!argument) throw badRequest("Name the key by its id (see `keys`)");
      const key = await revokeKey(svc, actor, argument);
      return `Revoked ${key.kind} ${key.id} of ${key.userEmail}`;
    }
    case "tokens":
      audit("admin.tokens");
      return table((await listTokens(svc, actor)).map((t) => ({
        id: t.id,
        app: t.app_id,
        appUser: t.app_user_email,
        status: t.status,
        expires: t.expires_at,
      }))) || "No auth tokens";
    case "disable-token": {
      if (!argument) throw badRequest("Name the token by its id (see `tokens`)");
      const token = await updateToken(svc, actor, argument, { status: "disabled" });
      return `Disabled auth token ${token.id} (${token.app_id})`;
    }
    case "rotate-certificate": {
      const certificate = await regenerateCertificate(svc);
      audit("tls.rotate", certificate.fingerprint);
      return `New SQL-door certificate ${certificate.fingerprint}, valid until ${certificate.notAfter.toISOString()}`;
    }
    case "settings": {
      audit("admin.settings");
      const rows = await svc.db.selectFrom("settings").selectAll().orderBy("key").execute();
      return JSON.stringify(Object.fromEntries(rows.map((r) => [r.key, r.value])), null, 2);
    }
    default:
      throw badRequest(`Unknown command "${command}"\n\n${ADMIN_USAGE}`);
  }
}
