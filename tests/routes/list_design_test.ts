import assert from "node:assert/strict";
import { createList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { query } from "../../wire/protocol/messages.ts";
import { backendTest } from "../_support/backends.ts";
import { textOf } from "../_support/http.ts";
import { browserOf } from "../_support/keys.ts";
import { errorOf, rowsOf } from "../wire/_client.ts";
import { connectRawClient, openDoor } from "../wire/_door.ts";

const PAGE = "/folders/home/-/lists/samples";

backendTest(
  "the list page previews a design change and applies it only when confirmed",
  async (t) => {
    const def = await createList(t.svc, t.admin, "/home", {
      name: "samples",
      key: "Id",
      autoKey: true,
      columns: [{ name: "Name", type: "Text" }, { name: "Dose", type: "Double" }],
    });
    await insertRows(t.svc, t.admin, def, [{ Name: "a", Dose: 1 }]);
    const { browser, csrf } = await browserOf(t);
    const preview = await browser.postForm(PAGE, {
      _csrf: csrf,
      _action: "design-preview",
      kind: "drop",
      column: "Dose",
    });
    assert.equal(preview.status, 200);
    const html = await preview.text();
    assert.match(textOf(html), /Check this change Drops Dose and its 1 value \(of 1 rows\)/);
    assert.match(textOf(await (await browser.get(PAGE)).text()), /Dose/, "nothing changed yet");
    const apply = /id="design-preview"[\s\S]*?<\/form>/.exec(html)![0];
    const fields = Object.fromEntries(
      [...apply.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    assert.equal(fields._action, "design-apply");
    const applied = await browser.postForm(PAGE, fields);
    assert.equal(applied.status, 303);
    const after = await (await browser.get(PAGE)).text();
    assert.doesNotMatch(after.slice(after.indexOf("<thead>"), after.indexOf("</thead>")), /Dose/);
  },
);

backendTest(
  "POST /api/lists/{id}/design previews and applies, and the SQL door sees the new names",
  async (t) => {
    await using fx = await openDoor(t);
    const { browser, csrf } = await browserOf(t);
    const def = await t.svc.db.selectFrom("lists").select("id").where("name", "=", "samples")
      .executeTakeFirstOrThrow();
    const call = (body: unknown) =>
      browser.json("POST", `/api/lists/${def.id}/design`, body, { "x-csrf-token": csrf });
    const preview = await call({ kind: "rename", column: "label", to: "Title", preview: true });
    assert.equal(preview.status, 200, await preview.clone().text());
    const previewed = await preview.json();
    assert.match(previewed.preview.effects[0], /^Renames label to Title; its values stay/);
    assert.equal(previewed.list, undefined);
    const applied = await (await call({ kind: "rename", column: "label", to: "Title" })).json();
    assert.ok(applied.list.columns.some((c: { name: string }) => c.name === "Title"));
    const bad = await call({ kind: "drop", column: "id" });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /is the key: it cannot be dropped/);

    await using client = await connectRawClient(fx.port);
    client.send(query("select title from samples where id = 1"));
    assert.deepEqual(rowsOf(await client.until()), [["alpha"]]);
    client.send(query("select label from samples"));
    const failed = (await client.until()).find((m) => m.type === "E")!;
    assert.match(errorOf(failed).message, /label/);
  },
);

backendTest(
  "a list made from a CSV file: columns inferred, confirmed, created with its rows",
  async (t) => {
    const { browser, csrf } = await browserOf(t);
    const csv = "SampleId,Dose,Taken\nS1,1.5,2026-01-02\nS2,2,2026-01-03\n";
    const form = new FormData();
    form.set("_csrf", csrf);
    form.set("_action", "infer");
    form.set("file", new File([csv], "plate-7.csv", { type: "text/csv" }));
    const inferred = await browser.request("/folders/home/-/new-list", {
      method: "POST",
      body: form,
    });
    assert.equal(inferred.status, 200);
    const html = await inferred.text();
    assert.match(textOf(html), /Columns read from plate-7\.csv: .* imports its 2 rows/);
    const fields: Record<string, string> = {};
    for (const m of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*>/g)) {
      const tag = m[0];
      const value = /value="([^"]*)"/.exec(tag)?.[1] ?? "";
      if (/type="(radio|checkbox)"/.test(tag) && !/checked/.test(tag)) continue;
      fields[m[1]] = value.replaceAll("&quot;", '"').replaceAll("&amp;", "&").replaceAll(
        "&#10;",
        "\n",
      );
    }
    for (const m of html.matchAll(/<select name="([^"]+)"[^>]*>([\s\S]*?)<\/select>/g)) {
      fields[m[1]] = /<option value="([^"]*)" selected/.exec(m[2])?.[1] ?? "";
    }
    assert.equal(fields.name, "plate_7");
    assert.equal(fields.keymode, "column");
    assert.equal(fields.keycolumn, "SampleId");
    assert.deepEqual([fields["col1.name"], fields["col1.type"]], ["Dose", "Double"]);
    assert.deepEqual([fields["col2.name"], fields["col2.type"]], ["Taken", "Date"]);
    fields._csrf = csrf;
    const created = await browser.postForm("/folders/home/-/new-list", fields);
    assert.equal(created.status, 303, textOf(await created.clone().text()));
    const grid = textOf(await (await browser.get("/folders/home/-/lists/plate_7")).text());
    assert.match(grid, /2 rows/);

    fields.name = "broken";
    fields["col1.type"] = "Integer";
    const refused = await browser.postForm("/folders/home/-/new-list", fields);
    assert.equal(refused.status, 400);
    assert.match(textOf(await refused.text()), /Row 1, column Dose/);
    assert.equal(
      await t.svc.db.selectFrom("lists").select("id").where("name", "=", "broken")
        .executeTakeFirst(),
      undefined,
      "nothing is created when a row is refused",
    );
  },
);
