/** Sign in, sign out, and the account page (change password). */
import { Hono } from "hono";
import {
  checkDeclarations,
  type ComplianceSettings,
  complianceSettings,
  PHI_LEVELS,
} from "../../src/auth/compliance.ts";
import { checkPasswordLogin } from "../../src/auth/login.ts";
import { changeOwnPassword, getUser } from "../../src/data/users.ts";
import { badRequest } from "../../src/errors.ts";
import { parseVerifier, verifyPassword } from "../../src/security/scram.ts";
import {
  checkPreSessionCsrf,
  clientAddr,
  type Env,
  preSessionCsrf,
  requireActor,
} from "../http/context.ts";
import { endLogin, startSession } from "../http/session_cookie.ts";
import { CsrfField } from "../ui/layout.tsx";
import { Field, Submit } from "../ui/forms.tsx";
import { field, formError, page, redirectWith, safeNext } from "../ui/render.tsx";

/** The declarations a login must make when the site requires them. */
function DeclarationFields(props: { settings: ComplianceSettings }) {
  return (
    <fieldset>
      <legend>Declarations (terms version {props.settings.termsVersion})</legend>
      <pre class="terms">{props.settings.termsText}</pre>
      <label>
        <input type="checkbox" name="terms_accepted" required /> I accept the terms of use
      </label>
      <label for="irb_number">IRB number</label>
      <input id="irb_number" name="irb_number" required maxlength={100} />
      <label for="phi_level">PHI level</label>
      <select id="phi_level" name="phi_level" required>
        {Object.entries(PHI_LEVELS).map(([value, label]) => <option value={value}>{label}</option>)}
      </select>
    </fieldset>
  );
}

function LoginForm(
  props: { csrf: string; email?: string; next: string; compliance: ComplianceSettings },
) {
  return (
    <div class="login card">
      <h1>Sign in to labgate</h1>
      <form method="post" action="/login">
        <CsrfField actor={null} token={props.csrf} />
        <input type="hidden" name="next" value={props.next} />
        <Field
          id="email"
          label="Email"
          type="email"
          autocomplete="username"
          required
          value={props.email ?? ""}
        />
        <Field
          id="password"
          label="Password"
          type="password"
          autocomplete="current-password"
          required
        />
        {props.compliance.required && <DeclarationFields settings={props.compliance} />}
        <Submit>Sign in</Submit>
      </form>
    </div>
  );
}

export function loginPages(): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/login", async (c) => {
    const next = safeNext(c.req.query("next"));
    if (c.get("actor")) return c.redirect(next, 303);
    const compliance = await c.get("svc").settings.get(complianceSettings);
    return page(c, {
      title: "Sign in",
      children: <LoginForm csrf={preSessionCsrf(c)} next={next} compliance={compliance} />,
    });
  });

  app.post("/login", async (c) => {
    const svc = c.get("svc");
    const body = await c.req.parseBody();
    const email = field(body, "email");
    const next = safeNext(field(body, "next"));
    try {
      await checkPreSessionCsrf(c);
      const compliance = await checkDeclarations(svc, {
        termsAccepted: field(body, "terms_accepted"),
        irbNumber: field(body, "irb_number"),
        phiLevel: field(body, "phi_level"),
      });
      const user = await checkPasswordLogin(svc, {
        email,
        password: field(body, "password"),
        clientAddr: clientAddr(c),
        door: "web",
      });
      return await startSession(
        c,
        user.id,
        user.must_change_password ? `/account?next=${encodeURIComponent(next)}` : next,
        compliance,
      );
    } catch (error) {
      const { error: message, status } = formError(error);
      return page(c, {
        title: "Sign in",
        error: message,
        children: (
          <LoginForm
            csrf={preSessionCsrf(c)}
            email={email}
            next={next}
            compliance={await svc.settings.get(complianceSettings)}
          />
        ),
      }, status);
    }
  });

  app.post("/logout", async (c) => {
    const actor = c.get("actor");
    if (actor?.session) await endLogin(c, actor.session.id);
    return redirectWith(c, "/login", "You are signed out");
  });

  app.get("/account", async (c) => {
    const actor = requireActor(c);
    const user = await getUser(c.get("svc"), actor.userId);
    return page(c, {
      title: "Account",
      notice: user?.must_change_password ? "Choose a new password before you continue" : undefined,
      children: <AccountPage csrfActor={actor} next={c.req.query("next")} />,
    });
  });

  app.post("/account/password", async (c) => {
    const svc = c.get("svc");
    const actor = requireActor(c);
    const body = await c.req.parseBody();
    try {
      const user = await getUser(svc, actor.userId);
      const current = field(body, "current");
      if (
        !user?.password_verifier ||
        !await verifyPassword(parseVerifier(user.password_verifier), current)
      ) {
        throw badRequest("Your current password is not right");
      }
      if (field(body, "password") !== field(body, "confirm")) {
        throw badRequest("The two new passwords differ");
      }
      await changeOwnPassword(svc, actor, { newPassword: field(body, "password") });
      return redirectWith(c, safeNext(field(body, "next")), "Your password is changed");
    } catch (error) {
      const { error: message, status } = formError(error);
      return page(c, {
        title: "Account",
        error: message,
        children: <AccountPage csrfActor={actor} next={field(body, "next")} />,
      }, status);
    }
  });

  return app;
}

function AccountPage(props: { csrfActor: ReturnType<typeof requireActor>; next?: string }) {
  const actor = props.csrfActor;
  return (
    <>
      <h1>Account</h1>
      <div class="card">
        <p>
          Signed in as <strong>{actor.displayName}</strong> ({actor.email})
        </p>
      </div>
      <div class="card">
        <h2>Change password</h2>
        <form method="post" action="/account/password">
          <CsrfField actor={actor} />
          <input type="hidden" name="next" value={props.next ?? "/folders"} />
          <Field
            id="current"
            label="Current password"
            type="password"
            autocomplete="current-password"
            required
          />
          <Field
            id="password"
            label="New password (at least 8 characters)"
            type="password"
            autocomplete="new-password"
            required
            minlength={8}
          />
          <Field
            id="confirm"
            label="New password again"
            type="password"
            autocomplete="new-password"
            required
          />
          <Submit>Change password</Submit>
        </form>
      </div>
    </>
  );
}
