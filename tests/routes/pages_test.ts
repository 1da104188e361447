import assert from "node:assert/strict";
import { createApp } from "../../routes/mod.ts";
import { ADMIN_EMAIL, ADMIN_PASSWORD, backendTest } from "../_support/backends.ts";
import { TestBrowser, textOf } from "../_support/http.ts";

backendTest(
  "the pages make a folder, a list, rows, an import and an export without JavaScript",
  async (t) => {
    const browser = new TestBrowser(createApp(t.svc));
    await browser.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const csrf = await browser.sessionCsrf();
    const folder = await browser.postForm("/folders/home", {
      _csrf: csrf,
      _action: "create-folder",
      name: "assays",
      inherit: "on",
    });
    assert.equal(
      folder.headers.get("location"),
      "/folders/home/assays?notice=Folder+%2Fhome%2Fassays+created",
    );
    const list = await browser.postForm("/folders/home/assays/-/new-list", {
      _csrf: csrf,
      name: "samples",
      keymode: "column",
      keycolumn: "SampleId",
      "col0.name": "SampleId",
      "col0.type": "Text",
      "col1.name": "Dose",
      "col1.type": "Decimal",
      "col1.required": "on",
    });
    assert.equal(list.status, 303);
    const listUrl = "/folders/home/assays/-/lists/samples";
    const bad = await browser.postForm(listUrl, {
      _csrf: csrf,
      _action: "import",
      text: "SampleId,Dose\nS1,1\nS2,lots\nS3,\n",
    });
    assert.equal(bad.status, 400);
    const badText = textOf(await bad.text());
    assert.match(badText, /Import failed, nothing was changed/);
    assert.match(badText, /Row 2, Dose: "lots" is not a number/);
    assert.match(badText, /Row 3, Dose: Dose is required/);
    const good = await browser.postForm(listUrl, {
      _csrf: csrf,
      _action: "import",
      text: "SampleId,Dose\nS1,1\nS2,2.5\n",
    });
    assert.equal(good.headers.get("location"), `${listUrl}?notice=Imported+2+rows`);
    assert.equal(
      (await browser.postForm(listUrl, {
        _csrf: csrf,
        _action: "insert",
        "v:sampleid": "S3",
        "v:dose": "7",
      })).status,
      303,
    );
    assert.equal(
      (await browser.postForm(listUrl, {
        _csrf: csrf,
        _action: "update",
        "v:sampleid": "S1",
        "v:dose": "1.5",
      })).status,
      303,
    );
    assert.equal(
      (await browser.postForm(listUrl, { _csrf: csrf, _action: "delete", key: "S2" })).status,
      303,
    );
    const grid = textOf(await (await browser.get(listUrl)).text());
    assert.match(grid, /2 rows/);
    const csv = await browser.get(`${listUrl}/export.csv`);
    assert.equal(csv.headers.get("content-type"), "text/csv; charset=utf-8");
    assert.equal(await csv.text(), "SampleId,Dose\r\nS1,1.5\r\nS3,7\r\n");
  },
);

backendTest("folder pages hide folders the user cannot read", async (t) => {
  const admin = new TestBrowser(createApp(t.svc));
  await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
  const csrf = await admin.sessionCsrf();
  await admin.postForm("/admin/users", {
    _csrf: csrf,
    email: "lee@example.org",
    user_type: "normal",
    password: "lee-password",
  });
  for (const name of ["open", "closed"]) {
    await admin.postForm("/folders/home", { _csrf: csrf, _action: "create-folder", name });
  }
  const lee =
    (await t.svc.db.selectFrom("users").select("id").where("email", "=", "lee@example.org")
      .executeTakeFirstOrThrow()).id;
  const saved = await admin.postForm("/folders/home/open/-/permissions", {
    _csrf: csrf,
    principal: String(lee),
    role: "reader",
  });
  assert.equal(saved.status, 303);
  const browser = new TestBrowser(createApp(t.svc));
  await browser.signIn("lee@example.org", "lee-password");
  const tree = textOf(await (await browser.get("/folders")).text());
  assert.match(tree, /\/home\/open/);
  assert.doesNotMatch(tree, /closed/);
  const closed = await browser.get("/folders/home/closed");
  const missing = await browser.get("/folders/home/never-made");
  assert.equal(closed.status, 404);
  assert.equal(missing.status, 404);
  assert.equal(
    textOf(await closed.text()).replace("closed", "X"),
    textOf(await missing.text()).replace("never-made", "X"),
  );
  assert.equal((await browser.get("/admin/users")).status, 403);
});
