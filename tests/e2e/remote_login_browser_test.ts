/**
 * Remote login in a real browser: Debian's chromium driven by playwright-core
 * through labgate and the example cooperating app, each on its own port.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { createApp } from "../../routes/mod.ts";
import { createContainer, setPolicy } from "../../src/data/containers.ts";
import { createUser } from "../../src/data/users.ts";
import { addSite } from "../../src/doors/remote_login/mod.ts";
import { createExampleApp } from "../../examples/remote_login_app.ts";
import { backendTest } from "../_support/backends.ts";

const CHROMIUM = "/usr/bin/chromium";
const READER = "reader@example.org";
const READER_PASSWORD = "reader-password-1";

const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) {
  console.log(`${CHROMIUM} not found: browser tests ignored (apt-get install chromium)`);
}

function serve(handler: Deno.ServeHandler): { server: Deno.HttpServer; url: string } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { server, url: `http://127.0.0.1:${server.addr.port}` };
}

backendTest(
  "examples/remote_login_app.ts signs in through labgate and ends with the labgate session",
  async (t) => {
    const app = createApp(t.svc);
    const labgate = serve((request, info) =>
      app.fetch(request, { clientAddr: (info.remoteAddr as Deno.NetAddr).hostname })
    );
    const example = serve(createExampleApp({ labgateUrl: labgate.url }).fetch);
    await addSite(t.svc, t.admin, { name: "Example", prefixes: [example.url] });
    const reader = await createUser(t.svc, t.admin, { email: READER, password: READER_PASSWORD });
    await setPolicy(t.svc, t.admin, "/home", {
      inherit: false,
      assignments: [{ principalId: reader.id, role: "author" }],
    });
    await createContainer(t.svc, t.admin, { parentPath: "/", name: "secret" });
    await setPolicy(t.svc, t.admin, "/secret", { inherit: false, assignments: [] });

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${example.url}/protected?folder=/home`);
      assert.ok(page.url().startsWith(`${labgate.url}/login?next=`), page.url());
      await page.fill("#email", READER);
      await page.fill("#password", READER_PASSWORD);
      await Promise.all([
        page.waitForURL(`${example.url}/protected?folder=/home`),
        page.click("button[type=submit]"),
      ]);
      assert.equal(await page.textContent("h1"), "You may READ /home");
      assert.match(await page.textContent("body") ?? "", /READ, INSERT \(bits 3\)/);

      await page.goto(`${example.url}/protected?folder=/secret`);
      assert.equal(await page.textContent("h1"), "Permission denied");

      await Promise.all([page.waitForURL(`${example.url}/`), page.click("#logout")]);
      assert.equal(
        await t.svc.db.selectFrom("remote_login_tokens").select("id").executeTakeFirst(),
        undefined,
        "the example's logout invalidated the token",
      );
      await page.goto(`${example.url}/protected?folder=/home`);
      assert.equal(
        await page.textContent("h1"),
        "You may READ /home",
        "still signed in to labgate",
      );

      await page.goto(`${labgate.url}/account`);
      await Promise.all([page.waitForURL(/\/login/), page.click("text=Sign out")]);

      await page.goto(`${example.url}/protected?folder=/home`);
      assert.equal(await page.textContent("h1"), "Sign in again");
      assert.match(await page.textContent("body") ?? "", /Unknown or invalidated token/);
      await page.click("#login");
      assert.ok(page.url().startsWith(`${labgate.url}/login?next=`), "labgate asks to sign in");
    } finally {
      await browser.close();
      await example.server.shutdown();
      await labgate.server.shutdown();
    }
  },
  { ignore: !hasChromium },
);
