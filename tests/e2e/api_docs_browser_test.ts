/**
 * /api/docs in a real browser (Debian's chromium, playwright-core): the
 * reference renders every operation under the site's strict CSP, from
 * labgate's own files.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { createApp } from "../../routes/mod.ts";
import { backendTest } from "../_support/backends.ts";

const CHROMIUM = "/usr/bin/chromium";

const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) {
  console.log(`${CHROMIUM} not found: browser tests ignored (apt-get install chromium)`);
}

backendTest(
  "/api/docs renders every operation of /api/openapi.json without a CSP violation",
  async (t) => {
    const app = createApp(t.svc);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => app.fetch(request, { clientAddr: "127.0.0.1" }),
    );
    const url = `http://127.0.0.1:${server.addr.port}`;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      const refused: string[] = [];
      const requested = new Set<string>();
      page.on("console", (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
      });
      page.on("pageerror", (error) => refused.push(String(error)));
      page.on("request", (request) => requested.add(new URL(request.url()).origin));
      await page.goto(`${url}/api/docs`);
      await page.waitForSelector(".opblock", { timeout: 30_000 });
      const doc = await (await fetch(`${url}/api/openapi.json`)).json();
      const operations = Object.values(doc.paths as Record<string, object>)
        .reduce((n, item) => n + Object.keys(item).length, 0);
      assert.equal(await page.locator(".opblock").count(), operations);
      assert.deepEqual(refused, []);
      assert.deepEqual([...requested], [url], "every file comes from labgate itself");
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
  { ignore: !hasChromium },
);
