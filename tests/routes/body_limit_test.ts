import assert from "node:assert/strict";
import { createList } from "../../src/data/lists.ts";
import { backendTest } from "../_support/backends.ts";
import { browserOf } from "../_support/keys.ts";

const LIMIT = 2048;

/** A body of `bytes` sent in pieces, with no Content-Length: the limit holds while it streams. */
function streamed(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, at += 512));
    },
  });
}

backendTest(
  "every route refuses a body above LABGATE_MAX_BODY_BYTES with 413 naming it, streamed or not",
  async (t) => {
    const def = await createList(t.svc, t.admin, "/home", {
      name: "samples",
      key: "Id",
      autoKey: true,
      columns: [{ name: "Name", type: "Text" }],
    });
    const { browser, csrf } = await browserOf(t);
    const csv = `Name\n${"sample\n".repeat(1000)}`;
    const form = new FormData();
    form.set("_csrf", csrf);
    form.set("_action", "import");
    form.set("file", new File([csv], "samples.csv", { type: "text/csv" }));
    const multipart = new Response(form);
    const formBytes = new Uint8Array(await multipart.arrayBuffer());
    const formType = multipart.headers.get("content-type")!;
    const cases: [string, string, Uint8Array][] = [
      ["/api/login", "application/json", new TextEncoder().encode(JSON.stringify({ x: csv }))],
      [`/api/lists/${def.list.id}/import`, "text/csv", new TextEncoder().encode(csv)],
      ["/folders/home/-/lists/samples", formType, formBytes],
      ["/home/query-executeSql.api", "application/json", new TextEncoder().encode(`"${csv}"`)],
      ["/login", "application/x-www-form-urlencoded", new TextEncoder().encode(`email=${csv}`)],
    ];
    for (const [path, type, bytes] of cases) {
      for (const mode of ["sized", "streamed"]) {
        const response = await browser.request(path, {
          method: "POST",
          headers: {
            "content-type": type,
            "x-csrf-token": csrf,
            ...(mode === "sized" ? { "content-length": String(bytes.length) } : {}),
          },
          body: mode === "sized" ? bytes : streamed(bytes),
          ...(mode === "streamed" ? { duplex: "half" } : {}),
        } as RequestInit);
        const text = await response.text();
        assert.equal(response.status, 413, `${mode} POST ${path}: ${text.slice(0, 200)}`);
        assert.match(text, /larger than the 2048 bytes .*LABGATE_MAX_BODY_BYTES/, path);
      }
    }
    const rows = await (await browser.get(`/api/lists/${def.list.id}/rows`)).json();
    assert.equal(rows.total, 0, "nothing imported");
  },
  { env: { LABGATE_MAX_BODY_BYTES: String(LIMIT) } },
);
