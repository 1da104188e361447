/** Site admin pages: users (named and external-app), groups, the audit log, site settings. */
import { Hono } from "hono";
import { conflict } from "../../src/errors.ts";
import { embeddedArchive } from "../../src/db/mod.ts";
import { auditActor } from "../../src/core/actor.ts";
import { adminOnly, type Env } from "../http/context.ts";
import { page } from "../ui/render.tsx";
import { registerAuditPages } from "./admin_audit.tsx";
import { registerUserPages } from "./admin_users.tsx";

/** Admin pages other doors add (link and label), shown on /admin/site. */
const ADMIN_SECTIONS: { href: string; label: string; description: string }[] = [
  { href: "/admin/users", label: "Users", description: "Named users and external app users" },
  { href: "/admin/groups", label: "Groups", description: "Site groups and their members" },
  { href: "/admin/audit", label: "Audit log", description: "Every access through every door" },
  {
    href: "/admin/sql-door",
    label: "External Analytics Connections",
    description: "The SQL door: port, host name, TLS and its certificate",
  },
  {
    href: "/admin/remote-sites",
    label: "Remote login sites",
    description: "Cooperating websites that sign users in through labgate",
  },
  { href: "/admin/keys", label: "API keys", description: "Key settings; every user's keys" },
  {
    href: "/admin/compliance",
    label: "Login declarations",
    description: "Terms of use, IRB number and PHI level asked at login",
  },
  { href: "/admin/external-apps", label: "External apps", description: "Apps that use tokens" },
  { href: "/admin/auth-tokens", label: "Auth tokens", description: "Tokens of external apps" },
];

export function adminPages(): Hono<Env> {
  const app = new Hono<Env>();

  // A consistent copy of the embedded database while labgate runs (`deno task restore` takes it).
  app.get("/admin/backup.tgz", async (c) => {
    const actor = await adminOnly(c);
    const svc = c.get("svc");
    if (svc.database.kind !== "pglite") {
      throw conflict("This site runs on PostgreSQL: back it up with deno task backup (pg_dump)");
    }
    const archive = await embeddedArchive(svc.database);
    svc.audit.record({ ...auditActor(actor), event: "site.backup", outcome: "ok" });
    return c.body(await archive.arrayBuffer(), 200, {
      "content-type": "application/gzip",
      "content-disposition": `attachment; filename="labgate-${svc.database.installId}.tgz"`,
    });
  });

  app.get("/admin/site", async (c) => {
    await adminOnly(c);
    return page(c, {
      title: "Site administration",
      children: (
        <>
          <h1>Site administration</h1>
          <table>
            <tbody>
              {ADMIN_SECTIONS.map((s) => (
                <tr>
                  <td>
                    <a href={s.href}>{s.label}</a>
                  </td>
                  <td class="muted">{s.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ),
    });
  });
  registerUserPages(app);
  registerAuditPages(app);

  return app;
}
