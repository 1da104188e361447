/**
 * The SQL door's admin page "External Analytics Connections" and the
 * certificate downloads (admins here; every signed-in user on /sql-door).
 */
import { Hono } from "hono";
import { auditActor } from "../../src/core/actor.ts";
import { badRequest, LabgateError, notFound } from "../../src/errors.ts";
import {
  sqlDoorLimit,
  type SqlDoorSettings,
  sqlDoorSettings,
} from "../../src/doors/sql/settings.ts";
import {
  certificateInUse,
  configuredCertificate,
  regenerateCertificate,
  selfSignedCertificate,
  tlsSettings,
} from "../../src/doors/sql/tls/mod.ts";
import { adminOnly, type AppContext, type Env, requireActor } from "../http/context.ts";
import { Checkbox, Field, FieldRow, PostForm, Radio, Submit } from "../ui/forms.tsx";
import { field, formError, page, redirectWith } from "../ui/render.tsx";

const PAGE = "/admin/sql-door";

/**
 * The limits the page sets besides the port: setting and form field. The
 * label and range are the settings section's own (`sqlDoorLimit()`).
 */
const LIMIT_FIELDS = [
  ["maxResultRows", "max_result_rows"],
  ["maxResultBytes", "max_result_bytes"],
  ["maxStatementsPerUser", "max_statements_per_user"],
  ["statementWaitSeconds", "statement_wait_seconds"],
] as const satisfies readonly (readonly [keyof SqlDoorSettings, string])[];

type LimitKey = typeof LIMIT_FIELDS[number][0];

/** The form field of each setting the page marks when it is refused. */
const FIELD_OF: Partial<Record<keyof SqlDoorSettings, string>> = {
  port: "port",
  hostOverride: "host_override",
  ...Object.fromEntries(LIMIT_FIELDS),
};

/** The form's fields as submitted (or as stored), so a refused form shows what was typed. */
interface FormValues {
  enabled: boolean;
  port: string;
  hostOverride: string;
  requireTls: boolean;
  allowLoopbackCleartext: boolean;
  source: string;
  validityDays: string;
  /** A limit the form did not send (an older page) stays as it is. */
  limits: Partial<Record<LimitKey, string>>;
}

function formValues(body: Record<string, unknown>): FormValues {
  const limits: FormValues["limits"] = {};
  for (const [key, name] of LIMIT_FIELDS) if (name in body) limits[key] = field(body, name);
  return {
    enabled: field(body, "enabled") === "on",
    port: field(body, "port"),
    hostOverride: field(body, "host_override"),
    requireTls: field(body, "require_tls") === "on",
    allowLoopbackCleartext: field(body, "allow_loopback_cleartext") === "on",
    source: field(body, "source"),
    validityDays: field(body, "validity_days"),
    limits,
  };
}

/** The form field a refused save names (`details.field` of the settings' error), if any. */
function refusedField(error: unknown): string | undefined {
  const details = error instanceof LabgateError
    ? error.details as { field?: keyof SqlDoorSettings } | undefined
    : undefined;
  return details?.field && FIELD_OF[details.field];
}

function pem(c: AppContext, certificate: string | null): Response {
  if (!certificate) {
    throw notFound(
      "No certificate is in use: choose the self-signed certificate, or configure LABGATE_TLS_CERT_FILE and LABGATE_TLS_KEY_FILE",
    );
  }
  return c.body(certificate, 200, {
    "content-type": "application/x-pem-file",
    "content-disposition": 'attachment; filename="labgate-sql-door.pem"',
    "cache-control": "no-store",
  });
}

function date(value: Date): string {
  return value.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function sqlDoorPages(): Hono<Env> {
  const app = new Hono<Env>();

  app.get(PAGE, (c) => settingsPage(c));
  app.post(PAGE, async (c) => {
    const actor = await adminOnly(c);
    const svc = c.get("svc");
    const body = await c.req.parseBody();
    if (field(body, "_action") === "regenerate") {
      const made = await regenerateCertificate(svc);
      svc.audit.record({
        ...auditActor(actor),
        door: "web",
        event: "tls.regenerate",
        outcome: "ok",
        detail: `fingerprint ${made.fingerprint}, valid until ${made.notAfter.toISOString()}`,
      });
      return redirectWith(c, PAGE, `New certificate made, valid until ${date(made.notAfter)}`);
    }
    const values = formValues(body);
    try {
      // Both sections are checked before either is stored: a refused form changes nothing.
      const door = sqlDoorSettings.validate({
        ...await svc.settings.get(sqlDoorSettings),
        enabled: values.enabled,
        port: values.port,
        hostOverride: values.hostOverride,
        requireTls: values.requireTls,
        allowLoopbackCleartext: values.allowLoopbackCleartext,
        ...values.limits,
      });
      const tls = tlsSettings.validate({
        source: values.source,
        validityDays: values.validityDays,
      });
      if (tls.source === "files" && !configuredCertificate(svc)) {
        throw badRequest(
          "No certificate files are configured: set LABGATE_TLS_CERT_FILE and LABGATE_TLS_KEY_FILE and restart, or choose the self-signed certificate",
        );
      }
      await svc.settings.set(sqlDoorSettings, door);
      await svc.settings.set(tlsSettings, tls);
      svc.audit.record({
        ...auditActor(actor),
        door: "web",
        event: "sql_door.settings",
        outcome: "ok",
        detail: JSON.stringify({ ...door, tls }),
      });
      return redirectWith(c, PAGE, "Settings saved");
    } catch (error) {
      const refused = formError(error);
      svc.audit.record({
        ...auditActor(actor),
        door: "web",
        event: "sql_door.settings",
        outcome: "failed",
        message: refused.error,
      });
      return settingsPage(c, { values, error: refused, field: refusedField(error) });
    }
  });

  app.get(`${PAGE}/certificate.pem`, async (c) => {
    await adminOnly(c);
    return pem(c, await certificateInUse(c.get("svc")));
  });
  app.get("/sql-door/certificate.pem", async (c) => {
    requireActor(c);
    return pem(c, await certificateInUse(c.get("svc")));
  });

  return app;
}

async function settingsPage(
  c: AppContext,
  refused?: { values: FormValues; error: ReturnType<typeof formError>; field?: string },
) {
  const actor = await adminOnly(c);
  const svc = c.get("svc");
  const door = await svc.settings.get(sqlDoorSettings);
  const tls = await svc.settings.get(tlsSettings);
  const values: FormValues = refused?.values ?? {
    enabled: door.enabled,
    port: String(door.port),
    hostOverride: door.hostOverride ?? "",
    requireTls: door.requireTls,
    allowLoopbackCleartext: door.allowLoopbackCleartext,
    source: tls.source,
    validityDays: String(tls.validityDays),
    limits: {},
  };
  const limitValue = (key: LimitKey) => values.limits[key] ?? String(door[key]);
  /** The refusal's message beside the field it names. */
  const errorAt = (name: string) => refused?.field === name ? refused.error.error : undefined;
  const configured = configuredCertificate(svc);
  const selfSigned = await selfSignedCertificate(svc);
  const hostName = door.hostOverride ?? new URL(c.req.url).hostname;
  return page(c, {
    title: "External Analytics Connections",
    error: refused?.error.error,
    children: (
      <>
        <div class="crumbs">
          <a href="/admin/site">Site administration</a> / External Analytics Connections
        </div>
        <h1>External Analytics Connections</h1>
        <p class="muted">
          Tools that speak the PostgreSQL protocol (psql, ODBC, JDBC, BI tools) connect here and see
          exactly the data their user may read.
        </p>
        <p id="listening">
          {svc.sqlDoorListening.port === null
            ? "The SQL door is not listening on this instance."
            : `The SQL door listens on ${hostName}:${svc.sqlDoorListening.port}.`}
          {svc.config.sqlDoorPort !== undefined &&
            ` Its port is set by LABGATE_SQL_DOOR_PORT; the port setting below applies where that is unset.`}
        </p>
        <PostForm actor={actor} to={PAGE} do="save">
          <div class="card">
            <Checkbox name="enabled" checked={values.enabled} label="Allow connections" />
            <FieldRow>
              <Field
                id="port"
                label="Port (1–65535)"
                type="number"
                min="1"
                max="65535"
                value={values.port}
                error={errorAt("port")}
              />
              <Field
                id="host_override"
                label={<>Override host name (no scheme, no port; empty to use {hostName})</>}
                value={values.hostOverride}
                error={errorAt("host_override")}
              />
            </FieldRow>
            <p>
              Host name shown to users: <code>{hostName}</code>
            </p>
            <Checkbox
              name="require_tls"
              checked={values.requireTls}
              label="Require TLS for connections"
            />
            <Checkbox
              name="allow_loopback_cleartext"
              checked={values.allowLoopbackCleartext}
              label="Allow cleartext API key logins from loopback addresses (127.0.0.1, ::1)"
            />
          </div>
          <div class="card" id="limits">
            <h2>Limits</h2>
            <p class="muted">
              What one statement may return through the door, and how many statements one user's
              connections may run at once (one more waits, then fails with 53300).
            </p>
            <FieldRow>
              {LIMIT_FIELDS.map(([key, name]) => {
                const limit = sqlDoorLimit(key);
                return (
                  <Field
                    id={name}
                    label={limit.label}
                    type="number"
                    required
                    min={limit.min}
                    max={limit.max}
                    value={limitValue(key)}
                    error={errorAt(name)}
                  />
                );
              })}
            </FieldRow>
          </div>
          <div class="card">
            <h2>Certificate</h2>
            <Radio
              name="source"
              value="files"
              checked={values.source === "files"}
              label={
                <>
                  Configured files (LABGATE_TLS_CERT_FILE, LABGATE_TLS_KEY_FILE):{" "}
                  {configured ? `expires ${date(configured.notAfter)}` : "not configured"}
                </>
              }
            />
            <Radio
              name="source"
              value="self_signed"
              checked={values.source === "self_signed"}
              label={
                <>
                  Self-signed, generated by labgate and renewed automatically: expires{" "}
                  {date(selfSigned.notAfter)}, for {selfSigned.hosts.join(", ")}
                </>
              }
            />
            <FieldRow>
              <Field
                id="validity_days"
                label="Validity of new self-signed certificates (days)"
                type="number"
                min="1"
                max="3650"
                value={values.validityDays}
              />
            </FieldRow>
            <p>
              Certificate in use ({tls.source === "files" ? "configured files" : "self-signed"}):
              {" "}
              <a href={`${PAGE}/certificate.pem`}>download certificate</a>
              <br />
              <span class="muted">
                SHA-256 fingerprint{" "}
                <code>
                  {tls.source === "files"
                    ? configured?.fingerprint ?? "none"
                    : selfSigned.fingerprint}
                </code>
              </span>
            </p>
          </div>
          <Submit>Save</Submit>
        </PostForm>
        <PostForm actor={actor} to={PAGE} do="regenerate">
          <Submit kind="secondary">Regenerate self-signed certificate now</Submit>
        </PostForm>
      </>
    ),
  }, refused?.error.status ?? 200);
}
