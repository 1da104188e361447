/**
 * What the browser tests share: labgate served on a free loopback port,
 * Debian's chromium driven by playwright-core, and axe-core's findings on a
 * page.
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { createApp } from "../../routes/mod.ts";
import type { Services } from "../../src/services.ts";

export const CHROMIUM = "/usr/bin/chromium";

/** Whether the browser tests can run here; they are ignored (and say so) where not. */
export const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) {
  console.log(`${CHROMIUM} not found: browser tests ignored (apt-get install chromium)`);
}

/** labgate's HTTP side on a free loopback port, and a headless chromium; both end with it. */
export async function browserOn(svc: Services): Promise<
  { base: string; browser: Browser; [Symbol.asyncDispose](): Promise<void> }
> {
  const app = createApp(svc);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) =>
      app.fetch(request, { clientAddr: (info.remoteAddr as Deno.NetAddr).hostname }),
  );
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    browser,
    async [Symbol.asyncDispose]() {
      await browser.close();
      await server.shutdown();
    },
  };
}

export interface Violation {
  id: string;
  impact: string;
  help: string;
  nodes: { target: string[] }[];
}

let axe: string | undefined;

/**
 * What axe-core finds on the page as it is now (all impact levels). It is
 * injected as a script: the page's context must bypass labgate's CSP.
 */
export async function axeViolations(page: Page): Promise<Violation[]> {
  axe ??= await Deno.readTextFile(
    new URL("../../node_modules/axe-core/axe.min.js", import.meta.url),
  );
  await page.addScriptTag({ content: axe });
  return await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const result = await (globalThis as any).axe.run();
    return result.violations;
  }) as Violation[];
}
