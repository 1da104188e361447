import assert from "node:assert/strict";
import type { Actor } from "../../../src/core/actor.ts";
import { actorBits, trackActor } from "../../../src/core/in_flight.ts";
import { createSession, endSession, resolveSessionCookie } from "../../../src/data/sessions.ts";
import { actorFor } from "../../../src/core/actor.ts";
import { getContainerByPath } from "../../../src/data/containers.ts";
import {
  createApiKey,
  createSessionKey,
  revokeKey,
  verifyKey,
} from "../../../src/doors/keys/mod.ts";
import { keySettings } from "../../../src/doors/keys/settings.ts";
import { LabgateError } from "../../../src/errors.ts";
import { tokenSource } from "../../../src/doors/tokens/resolve.ts";
import { updateToken } from "../../../src/doors/tokens/tokens.ts";
import { backendTest, type TestContext } from "../../_support/backends.ts";
import { FOLDER as TOKEN_FOLDER, tokenWorld } from "../../_support/tokens.ts";

async function browserAdmin(t: TestContext): Promise<Actor> {
  await t.svc.settings.set(keySettings, {
    apiKeys: true,
    apiKeyExpiries: ["1w"],
    sessionKeys: true,
  });
  const { session } = await createSession(t.svc, { userId: t.admin.userId });
  return { ...t.admin, session: { id: session.id, csrfToken: session.csrf_token } };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  return await promise.then(
    () => assert.fail("should be refused"),
    (error) => {
      assert.ok(error instanceof LabgateError);
      assert.equal(error.status, 401);
      return error.message;
    },
  );
}

backendTest(
  "actorBits() refuses a request in flight whose key or session ended after it began",
  async (t) => {
    const { svc } = t;
    const browser = await browserAdmin(t);
    const home = (await getContainerByPath(svc, "/home"))!;
    const context = { door: "key" as const, clientAddr: null };
    const apiKey = await createApiKey(svc, browser, { expiry: "1w" });
    const sessionKey = await createSessionKey(svc, browser);
    const byApiKey = await verifyKey(svc, apiKey.key, context);
    const bySessionKey = await verifyKey(svc, sessionKey.key, context);
    const { cookie } = await createSession(svc, { userId: t.admin.userId });
    const live = (await resolveSessionCookie(svc, cookie))!;
    const byCookie = actorFor(live.user, {
      credential: { kind: "session", id: null },
      compliance: null,
      impersonatorId: null,
      door: "web",
      clientAddr: null,
      session: { id: live.session.id, csrfToken: live.session.csrf_token },
    });
    const untrack = [byApiKey, bySessionKey, byCookie].map((actor) => trackActor(svc, actor));
    for (const actor of [byApiKey, bySessionKey, byCookie]) {
      assert.ok(await actorBits(svc, actor, home.id) > 0);
    }

    await revokeKey(svc, browser, apiKey.view.id);
    assert.match(await refusal(actorBits(svc, byApiKey, home.id)), /revoked/);
    assert.ok(await actorBits(svc, bySessionKey, home.id) > 0, "another key goes on");

    await endSession(svc, browser.session!.id, "logout");
    assert.match(await refusal(actorBits(svc, bySessionKey, home.id)), /session has ended/);
    assert.ok(await actorBits(svc, byCookie, home.id) > 0, "another session goes on");
    await endSession(svc, live.session.id, "logout");
    assert.match(await refusal(actorBits(svc, byCookie, home.id)), /session has ended/);
    for (const done of untrack) done();
  },
);

backendTest(
  "actorBits() refuses a request in flight whose token was disabled after it began",
  async (t) => {
    const { svc } = t;
    const world = await tokenWorld(t);
    const { id, value } = await world.token();
    const actor = (await tokenSource(svc, {
      headers: new Headers({ authorization: `Token ${value}` }),
      cookies: {},
      url: new URL("http://labgate.test/api/folders"),
      clientAddr: null,
      door: "api",
      method: "GET",
    }))!;
    const folder = (await getContainerByPath(svc, TOKEN_FOLDER))!;
    const untrack = trackActor(svc, actor);
    assert.ok(await actorBits(svc, actor, folder.id) > 0);
    await updateToken(svc, t.admin, id, { status: "disabled" });
    assert.match(await refusal(actorBits(svc, actor, folder.id)), /token or its app changed/);
    untrack();
    assert.ok(await actorBits(svc, actor, folder.id) > 0, "a request that ended is forgotten");
  },
);
