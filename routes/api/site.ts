/**
 * What the site admin pages configure, for scripts: every settings section
 * (keys, SQL door, TLS, compliance, remote login, tokens), the SQL door's
 * certificate, cooperating remote-login sites. Site Admin only; each change
 * audited like the page's.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { auditActor } from "../../src/core/actor.ts";
import { complianceSettings } from "../../src/auth/compliance.ts";
import { requireSiteAdmin } from "../../src/data/users.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { addSite, listSites, removeSite } from "../../src/doors/remote_login/mod.ts";
import { remoteLoginSettings } from "../../src/doors/remote_login/settings.ts";
import type { SettingsSection } from "../../src/settings.ts";
import { sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { regenerateCertificate } from "../../src/doors/sql/tls/mod.ts";
import { tlsSettings } from "../../src/doors/sql/tls/settings.ts";
import { tokenSettings } from "../../src/doors/tokens/settings.ts";
import { type AppContext, type Env, requireActor } from "../http/context.ts";
import * as S from "../http/schemas.ts";
import { body, Empty, errors, json, route } from "../http/schemas.ts";

/** Every settings section, by the name its page and the settings table use. */
const SECTIONS: Record<string, SettingsSection<unknown>> = Object.fromEntries(
  [
    keySettings,
    sqlDoorSettings,
    tlsSettings,
    complianceSettings,
    remoteLoginSettings,
    tokenSettings,
  ]
    .map((section) => [section.key, section as SettingsSection<unknown>]),
);

const SectionParam = z.object({
  section: z.enum(Object.keys(SECTIONS) as [string, ...string[]]).openapi({
    param: { name: "section", in: "path", required: true },
    example: "sql_door",
  }),
});

const Settings = z.record(z.string(), z.unknown()).openapi("Settings", {
  description: "A settings section as its admin page shows it; see GET for the fields",
});

async function siteAdmin(c: AppContext) {
  const actor = requireActor(c);
  await requireSiteAdmin(c.get("svc"), actor);
  return actor;
}

export function registerSiteApi(api: OpenAPIHono<Env>): void {
  api.openapi(
    route({
      method: "get",
      path: "/settings/{section}",
      operationId: "getSettings",
      tags: ["Site"],
      summary: "A settings section (Site Admin)",
      request: { params: SectionParam },
      responses: { 200: json(Settings, "The section"), ...errors },
    }),
    async (c) => {
      await siteAdmin(c);
      const section = SECTIONS[c.req.valid("param").section];
      return c.json(await c.get("svc").settings.get(section) as Record<string, unknown>, 200);
    },
  );

  api.openapi(
    route({
      method: "patch",
      path: "/settings/{section}",
      operationId: "updateSettings",
      tags: ["Site"],
      summary: "Change some fields of a settings section (Site Admin); the rest stay",
      description: "The whole section is checked as the admin page checks it; a bad field is a " +
        "400 that names it, and nothing changes. Every instance applies the change at once.",
      request: { params: SectionParam, ...body(Settings) },
      responses: { 200: json(Settings, "The section after the change"), ...errors },
    }),
    async (c) => {
      const actor = await siteAdmin(c);
      const svc = c.get("svc");
      const name = c.req.valid("param").section;
      const section = SECTIONS[name];
      const current = await svc.settings.get(section) as Record<string, unknown>;
      const changes = c.req.valid("json");
      await svc.settings.set(section, { ...current, ...changes });
      svc.audit.record({
        ...auditActor(actor),
        event: "settings.update",
        outcome: "ok",
        detail: JSON.stringify({ section: name, changed: Object.keys(changes) }),
      });
      return c.json(await svc.settings.get(section) as Record<string, unknown>, 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/sql-door/certificate",
      operationId: "regenerateCertificate",
      tags: ["Site"],
      summary: "A new self-signed SQL-door certificate now (Site Admin)",
      responses: {
        200: json(
          z.object({ fingerprint: z.string(), notAfter: z.string() }).openapi("Certificate"),
          "The new certificate",
        ),
        ...errors,
      },
    }),
    async (c) => {
      const actor = await siteAdmin(c);
      const svc = c.get("svc");
      const certificate = await regenerateCertificate(svc);
      svc.audit.record({
        ...auditActor(actor),
        event: "tls.rotate",
        outcome: "ok",
        detail: certificate.fingerprint,
      });
      return c.json({
        fingerprint: certificate.fingerprint,
        notAfter: certificate.notAfter.toISOString(),
      }, 200);
    },
  );

  const RemoteSite = z.object({
    id: z.number().int(),
    name: z.string(),
    prefixes: z.array(z.string()),
  }).openapi("RemoteSite");

  api.openapi(
    route({
      method: "get",
      path: "/remote-sites",
      operationId: "listRemoteSites",
      tags: ["Site"],
      summary: "Cooperating sites allowed to send users here to sign in (Site Admin)",
      responses: { 200: json(RemoteSite.array().openapi("RemoteSites"), "Sites"), ...errors },
    }),
    async (c) => {
      await siteAdmin(c);
      const sites = await listSites(c.get("svc"));
      return c.json(sites.map((s) => ({ id: s.id, name: s.name, prefixes: s.prefixes })), 200);
    },
  );

  api.openapi(
    route({
      method: "post",
      path: "/remote-sites",
      operationId: "addRemoteSite",
      tags: ["Site"],
      summary: "Allow a cooperating site (Site Admin)",
      request: {
        ...body(
          z.object({
            name: z.string(),
            prefixes: z.array(z.string()).openapi({
              description: "returnUrl origins or prefixes, e.g. https://app.example.org/lab/",
            }),
          }).openapi("NewRemoteSite"),
        ),
      },
      responses: { 201: json(RemoteSite, "Added"), ...errors },
    }),
    async (c) => {
      const site = await addSite(c.get("svc"), await siteAdmin(c), c.req.valid("json"));
      return c.json({ id: site.id, name: site.name, prefixes: site.prefixes }, 201);
    },
  );

  api.openapi(
    route({
      method: "delete",
      path: "/remote-sites/{id}",
      operationId: "removeRemoteSite",
      tags: ["Site"],
      summary: "Remove a cooperating site (Site Admin)",
      request: { params: S.IdParam },
      responses: { 200: json(Empty, "Removed"), ...errors },
    }),
    async (c) => {
      await removeSite(c.get("svc"), await siteAdmin(c), c.req.valid("param").id);
      return c.json({}, 200);
    },
  );
}
