/** Real client: curl with a .netrc file holding a session key, before and after logout. */
import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { keySettings } from "../../src/doors/keys/settings.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, backendTest } from "../_support/backends.ts";

async function curlNetrc(netrc: string, url: string): Promise<{ status: number; body: string }> {
  const { stdout, success } = await new Deno.Command("curl", {
    args: ["--silent", "--netrc-file", netrc, "--write-out", "\n%{http_code}", url],
  }).output();
  assert.ok(success, "curl ran");
  const text = new TextDecoder().decode(stdout);
  const cut = text.lastIndexOf("\n");
  return { status: Number(text.slice(cut + 1)), body: text.slice(0, cut) };
}

backendTest("curl --netrc-file works with a session key until logout", async (t) => {
  await t.svc.settings.set(keySettings, { apiKeys: false, apiKeyExpiries: [], sessionKeys: true });
  const app = createApp(t.svc);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request, info) => app.fetch(request, { clientAddr: info.remoteAddr.hostname }),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const login = await fetch(`${base}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
  });
  assert.equal(login.status, 200);
  const { csrfToken } = await login.json();
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith("labgate_session="))!
    .split(";")[0];
  const session = { cookie, "x-csrf-token": csrfToken, "content-type": "application/json" };
  const made = await fetch(`${base}/api/keys`, {
    method: "POST",
    headers: session,
    body: JSON.stringify({ kind: "session_key" }),
  });
  assert.equal(made.status, 201);
  const { key } = await made.json();

  const netrc = await Deno.makeTempFile({ suffix: ".netrc" });
  try {
    await Deno.writeTextFile(netrc, `machine 127.0.0.1\nlogin apikey\npassword ${key}\n`);
    await Deno.chmod(netrc, 0o600);
    const before = await curlNetrc(netrc, `${base}/api/me`);
    assert.equal(before.status, 200);
    assert.equal(JSON.parse(before.body).user.email, ADMIN_EMAIL);

    const out = await fetch(`${base}/api/logout`, { method: "POST", headers: session });
    assert.equal(out.status, 200);
    await out.body?.cancel();
    const after = await curlNetrc(netrc, `${base}/api/me`);
    assert.equal(after.status, 401);
    assert.deepEqual(JSON.parse(after.body), {
      error: { status: 401, message: "Session key's browser session has ended" },
    });
  } finally {
    await Deno.remove(netrc);
  }
});
