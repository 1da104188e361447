/** External apps: who may hold auth tokens, and through which entry points. */
import { sql } from "kysely";
import { type Actor, auditActor } from "../../core/actor.ts";
import type { AppStatus, ExternalApp } from "../../db/schema.ts";
import { requireSiteAdmin } from "../../data/users.ts";
import { badRequest, conflict, forbidden, notFound } from "../../errors.ts";
import type { Services } from "../../services.ts";
import { parseDeclaredPhiLevel } from "../../security/phi.ts";
import { tokenSettings } from "./settings.ts";

export type EntryPoint = "rest" | "sql" | "action";
export const ENTRY_POINTS: Record<EntryPoint, string> = {
  rest: "REST query API",
  sql: "SQL door",
  action: "Action endpoint",
};

export interface AppInput {
  id?: string;
  description?: string;
  status?: AppStatus;
  entryPoints?: EntryPoint[];
  restReadOnly?: boolean;
  /** Allowed REST path patterns, `*` matching any characters; empty allows all. */
  restPaths?: string[];
  defaultExpiryDays?: number;
  /** The PHI level in force for the app's tokens and accounts; default `not_phi`. */
  phiLevel?: string;
}

const APP_ID = /^[a-z0-9][a-z0-9_-]{1,62}$/;

export function allowsEntry(
  app: Pick<ExternalApp, "entry_rest" | "entry_sql" | "entry_action">,
  entry: EntryPoint,
): boolean {
  return { rest: app.entry_rest, sql: app.entry_sql, action: app.entry_action }[entry];
}

export async function getApp(svc: Services, id: string): Promise<ExternalApp | undefined> {
  return await svc.db.selectFrom("external_apps").selectAll().where("id", "=", id)
    .executeTakeFirst();
}

export async function requireApp(svc: Services, id: string): Promise<ExternalApp> {
  const app = await getApp(svc, id);
  if (!app) throw badRequest(`No external app "${id}": register it on the External apps page`);
  return app;
}

/** Every external app's id, in order: for forms that name one. */
export async function listAppIds(svc: Services): Promise<string[]> {
  const apps = await svc.db.selectFrom("external_apps").select("id").orderBy("id").execute();
  return apps.map((a) => a.id);
}

export async function listApps(svc: Services, actor: Actor): Promise<ExternalApp[]> {
  await requireSiteAdmin(svc, actor);
  return await svc.db.selectFrom("external_apps").selectAll().orderBy("id").execute();
}

function checkedFields(input: AppInput) {
  const days = input.defaultExpiryDays ?? 90;
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw badRequest(`Default token expiry must be 1 to 3650 days, got "${days}"`);
  }
  if (input.status && input.status !== "active" && input.status !== "disabled") {
    throw badRequest(`Status must be "active" or "disabled", got "${input.status}"`);
  }
  const entries = new Set(input.entryPoints ?? []);
  for (const entry of entries) {
    if (!Object.hasOwn(ENTRY_POINTS, entry)) throw badRequest(`Unknown entry point "${entry}"`);
  }
  const paths = (input.restPaths ?? []).map((p) => p.trim()).filter(Boolean);
  for (const path of paths) {
    if (!path.startsWith("/")) throw badRequest(`REST path "${path}" must start with /`);
  }
  return {
    description: input.description?.trim() ?? "",
    status: input.status ?? "active",
    entry_rest: entries.has("rest"),
    entry_sql: entries.has("sql"),
    entry_action: entries.has("action"),
    rest_read_only: input.restReadOnly === true,
    rest_paths: JSON.stringify(paths),
    default_expiry_days: days,
    phi_level: parseDeclaredPhiLevel(input.phiLevel),
  };
}

/** Registers an app, within the configured maximum number of apps. */
export async function createExternalApp(
  svc: Services,
  actor: Actor,
  input: AppInput,
): Promise<ExternalApp> {
  await requireSiteAdmin(svc, actor);
  const id = input.id?.trim().toLowerCase() ?? "";
  if (!APP_ID.test(id)) {
    throw badRequest(
      "App id must be 2 to 63 lower-case letters, digits, - or _, starting with a letter or digit",
    );
  }
  const fields = checkedFields(input);
  const { maxApps } = await svc.settings.get(tokenSettings);
  const { n } = await svc.db.selectFrom("external_apps")
    .select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
  if (Number(n) >= maxApps) {
    throw conflict(
      `The limit of ${maxApps} external apps is reached: disable and reuse one, or raise the limit`,
    );
  }
  if (await getApp(svc, id)) throw conflict(`An external app with id ${id} already exists`);
  const app = await svc.db.insertInto("external_apps").values({ id, ...fields })
    .returningAll().executeTakeFirstOrThrow();
  svc.audit.record({ ...auditActor(actor), event: "app.create", outcome: "ok", detail: id });
  return app;
}

/** Changes an app; built-in apps are view-only. Disabling stops its tokens at once. */
export async function updateExternalApp(
  svc: Services,
  actor: Actor,
  id: string,
  input: AppInput,
): Promise<ExternalApp> {
  await requireSiteAdmin(svc, actor);
  const app = await getApp(svc, id);
  if (!app) throw notFound(`No external app ${id}`);
  if (app.built_in) throw forbidden(`${id} is a built-in app and is view-only`);
  const updated = await svc.db.updateTable("external_apps")
    .set({ ...checkedFields(input), updated_at: sql`now()` })
    .where("id", "=", id).returningAll().executeTakeFirstOrThrow();
  await svc.invalidate.publish({ kind: "token" });
  svc.audit.record({
    ...auditActor(actor),
    event: "app.update",
    outcome: "ok",
    detail: `${id} (${updated.status})`,
  });
  return updated;
}

/**
 * Deletes an app together with its tokens, which stop working at once.
 * Built-in apps cannot be deleted. Neither can an app that still has user
 * accounts: labgate never deletes accounts (they hold roles, group
 * memberships and audit history), so an admin first moves them to another
 * app on the Users page — or simply disables the app, which is reversible.
 */
export async function deleteExternalApp(
  svc: Services,
  actor: Actor,
  id: string,
): Promise<{ tokensDeleted: number }> {
  await requireSiteAdmin(svc, actor);
  const app = await getApp(svc, id);
  if (!app) throw notFound(`No external app ${id}`);
  if (app.built_in) throw forbidden(`${id} is a built-in app and cannot be deleted`);
  const tokensDeleted = await svc.db.transaction().execute(async (trx) => {
    const users = await trx.selectFrom("users").select("email")
      .where("external_app_id", "=", id).orderBy("email").execute();
    if (users.length) {
      throw conflict(
        `External app ${id} still has ${users.length} user account(s) ` +
          `(${users.map((u) => u.email).join(", ")}): move them to another app on the Users ` +
          "page first, or disable the app instead",
      );
    }
    const tokens = await trx.deleteFrom("auth_tokens").where("app_id", "=", id)
      .returning("id").execute();
    await trx.deleteFrom("external_apps").where("id", "=", id).execute();
    return tokens.length;
  });
  await svc.invalidate.publish({ kind: "token" });
  svc.audit.record({
    ...auditActor(actor),
    event: "app.delete",
    outcome: "ok",
    detail: `${id} (${tokensDeleted} token(s) deleted)`,
  });
  return { tokensDeleted };
}
