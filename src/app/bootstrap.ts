/**
 * First start: an empty database gets a site admin, from
 * LABGATE_ADMIN_EMAIL / LABGATE_ADMIN_PASSWORD or with a one-time password
 * printed once.
 */
import { createUser } from "../data/users.ts";
import { randomBase64Url } from "../security/secrets.ts";
import type { Services } from "../services.ts";

const DEFAULT_ADMIN_EMAIL = "admin@labgate.local";

export async function bootstrapAdmin(
  svc: Services,
  print: (message: string) => void,
): Promise<{ created: boolean }> {
  const any = await svc.db.selectFrom("users").select("id").limit(1).executeTakeFirst();
  if (any) return { created: false };
  const email = svc.config.adminEmail ?? DEFAULT_ADMIN_EMAIL;
  const generated = !svc.config.adminPassword;
  const password = svc.config.adminPassword ?? randomBase64Url(15);
  const user = await createUser(svc, null, {
    email,
    displayName: "Site Admin",
    password,
    mustChangePassword: generated,
  });
  const root = await svc.db.selectFrom("containers").select("id").where("path", "=", "/")
    .executeTakeFirstOrThrow();
  await svc.db.insertInto("role_assignments")
    .values({ container_id: root.id, principal_id: user.id, role: "site_admin" }).execute();
  await svc.invalidate.publish({ kind: "permissions" });
  svc.audit.record({
    door: "system",
    event: "admin.bootstrap",
    outcome: "ok",
    userId: user.id,
    userEmail: email,
  });
  if (generated) {
    print(
      `labgate: created site admin ${email} with one-time password ${password}\n` +
        "labgate: sign in and choose a new password; this password is not shown again.",
    );
  } else {
    print(`labgate: created site admin ${email} (password from LABGATE_ADMIN_PASSWORD)`);
  }
  return { created: true };
}
