/** Keys in route tests: turning them on, a signed-in browser that makes keys, presenting them. */
import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import type { Actor } from "../../src/core/actor.ts";
import { createSession } from "../../src/data/sessions.ts";
import { createApiKey } from "../../src/doors/keys/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import type { DeclaredPhiLevel } from "../../src/security/phi.ts";
import { actorOf, ADMIN_EMAIL, ADMIN_PASSWORD, type TestContext } from "./backends.ts";
import { TestBrowser } from "./http.ts";

export async function enableKeys(t: TestContext) {
  await t.svc.settings.set(keySettings, {
    apiKeys: true,
    apiKeyExpiries: ["1w", "never"],
    sessionKeys: true,
  });
}

/** The site admin as signed in from a browser (keys on), who may make keys. */
export async function browserAdmin(t: TestContext): Promise<Actor> {
  await enableKeys(t);
  const { session } = await createSession(t.svc, {
    userId: t.admin.userId,
    compliance: { termsAccepted: true, irbNumber: "IRB-1", phiLevel: "none" },
  });
  return { ...t.admin, session: { id: session.id, csrfToken: session.csrf_token } };
}

/** A signed-in browser that can make keys. */
export async function browserOf(t: TestContext, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  const app = createApp(t.svc);
  const browser = new TestBrowser(app);
  assert.equal((await browser.signIn(email, password)).status, 303);
  const csrf = await browser.sessionCsrf();
  const makeKey = async (body: Record<string, unknown>) => {
    const response = await browser.json("POST", "/api/keys", body, { "x-csrf-token": csrf });
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as { key: string; id: string };
  };
  return { app, browser, csrf, makeKey };
}

/** API keys of `email`'s at each PHI level, made in a browser session that declared full PHI. */
export async function keysAtEachLevel(
  t: TestContext,
  email: string,
): Promise<Record<DeclaredPhiLevel, string>> {
  await enableKeys(t);
  const user = await actorOf(t.svc, email);
  const { session } = await createSession(t.svc, {
    userId: user.userId,
    compliance: { termsAccepted: true, irbNumber: "IRB-16", phiLevel: "full" },
  });
  const browser: Actor = {
    ...user,
    compliance: session.compliance as Actor["compliance"],
    session: { id: session.id, csrfToken: session.csrf_token },
  };
  const key = async (phiLevel: DeclaredPhiLevel) =>
    (await createApiKey(t.svc, browser, { expiry: "1w", phiLevel })).key;
  return { not_phi: await key("not_phi"), limited: await key("limited"), full: await key("full") };
}

/** HTTP Basic with login `apikey`: how .netrc and the client libraries send a key. */
export const basic = (key: string) => ({ authorization: `Basic ${btoa(`apikey:${key}`)}` });

/** Decodes URL-safe base64 without padding, to count a key's random bytes. */
export function fromBase64Url(text: string): Uint8Array {
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") +
    "==".slice(0, (4 - text.length % 4) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}
