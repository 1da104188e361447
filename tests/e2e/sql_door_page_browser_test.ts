/**
 * The SQL door's admin page in a real browser (Debian's chromium,
 * playwright-core): its limits are saved, and a refused one is said beside
 * its field, marked invalid, with no accessibility violation.
 */
import assert from "node:assert/strict";
import { sqlDoorSettings } from "../../src/doors/sql/settings.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, backendTest } from "../_support/backends.ts";
import { axeViolations, browserOn, hasChromium } from "../_support/browser.ts";

backendTest("/admin/sql-door saves its limits and shows a refused one at its field", async (t) => {
  await using opened = await browserOn(t.svc);
  const { base, browser } = opened;
  // axe is injected as a script: let it past labgate's script-src 'self' for this test only.
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill("#email", ADMIN_EMAIL);
  await page.fill("#password", ADMIN_PASSWORD);
  await Promise.all([page.waitForURL(`${base}/folders`), page.click("button[type=submit]")]);

  await page.goto(`${base}/admin/sql-door`);
  assert.equal(await page.inputValue("#max_result_rows"), "10000000");
  await page.fill("#max_result_rows", "2500");
  await page.fill("#max_statements_per_user", "4");
  await page.fill("#statement_wait_seconds", "12");
  await Promise.all([
    page.waitForURL(/notice=Settings\+saved/),
    page.click("#limits ~ p button[type=submit]"),
  ]);
  assert.equal(await page.textContent("[role=status]"), "Settings saved");
  assert.equal(await page.inputValue("#max_statements_per_user"), "4");
  const saved = await t.svc.settings.get(sqlDoorSettings);
  assert.deepEqual(
    [saved.maxResultRows, saved.maxResultBytes, saved.maxStatementsPerUser],
    [2500, sqlDoorSettings.defaults.maxResultBytes, 4],
  );
  assert.equal(saved.statementWaitSeconds, 12);

  // The browser itself refuses what the field's range rules out, before anything is sent.
  await page.fill("#max_statements_per_user", "0");
  await page.click("#limits ~ p button[type=submit]");
  assert.equal(
    await page.$eval("#max_statements_per_user", (input) => input.matches(":invalid")),
    true,
  );
  assert.match(page.url(), /notice=Settings\+saved/, "not submitted");

  // The server says it too, beside the field, when a form gets past the browser's checks.
  await page.$eval("#limits", (card) => card.closest("form")!.noValidate = true);
  await page.click("#limits ~ p button[type=submit]");
  const alert = await (await page.waitForSelector("[role=alert]")).textContent() ?? "";
  assert.match(alert, /Statements one user may run at once must be a whole number from 1/);
  assert.equal(await page.getAttribute("#max_statements_per_user", "aria-invalid"), "true");
  const describedBy = await page.getAttribute("#max_statements_per_user", "aria-describedby");
  assert.match(await page.textContent(`#${describedBy}`) ?? "", /got "0"/);
  assert.equal(await page.inputValue("#max_statements_per_user"), "0", "what was typed stays");
  assert.equal(await page.inputValue("#max_result_rows"), "2500");
  assert.equal((await t.svc.settings.get(sqlDoorSettings)).maxStatementsPerUser, 4);

  assert.deepEqual(await axeViolations(page), []);
}, { only: ["pglite"], ignore: !hasChromium });
