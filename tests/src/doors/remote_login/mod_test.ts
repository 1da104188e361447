import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { escapeXmlAttribute } from "../../../../routes/remote_login/mod.ts";
import {
  normalizePrefix,
  prefixAllows,
  withToken,
} from "../../../../src/doors/remote_login/mod.ts";

Deno.test("normalizePrefix() keeps origins and path prefixes and refuses the rest", () => {
  assert.equal(normalizePrefix(" https://App.Example/ "), "https://app.example");
  assert.equal(normalizePrefix("http://localhost:8090"), "http://localhost:8090");
  assert.equal(normalizePrefix("https://lab.example/nb/"), "https://lab.example/nb/");
  for (const bad of ["app.example", "ftp://x.example", "https://u:p@x.example", "https://x/?a=1"]) {
    assert.throws(() => normalizePrefix(bad), /must|not an absolute URL/, bad);
  }
});

Deno.test("prefixAllows() matches the origin and whole path segments only", () => {
  const allows = (prefix: string, url: string) => prefixAllows(prefix, new URL(url));
  assert.ok(allows("https://app.example", "https://app.example/any/page?x#y"));
  assert.ok(!allows("https://app.example", "http://app.example/"));
  assert.ok(!allows("https://app.example", "https://app.example:444/"));
  assert.ok(!allows("https://app.example", "https://app.example.evil.example/"));
  assert.ok(allows("https://lab.example/nb", "https://lab.example/nb"));
  assert.ok(allows("https://lab.example/nb", "https://lab.example/nb/page"));
  assert.ok(!allows("https://lab.example/nb", "https://lab.example/nbevil"));
  assert.ok(allows("https://lab.example/nb/", "https://lab.example/nb/page"));
  assert.ok(!allows("https://lab.example/nb/", "https://lab.example/nb/../admin"));
  assert.ok(!allows("https://lab.example/nb/", "https://lab.example/nb/%2e%2e/admin"));
});

Deno.test("withToken() adds the token and email and keeps the query and fragment as sent", () => {
  const url = new URL("https://app.example/p?q=a%20b&plus=a+b&labkeyEmail=old#frag?x");
  assert.equal(
    withToken(url, "ab12", "me+x@example.org").href,
    "https://app.example/p?q=a%20b&plus=a+b&labkeyToken=ab12&labkeyEmail=me%2Bx%40example.org#frag?x",
  );
  assert.equal(
    withToken(new URL("https://app.example/"), "ab12", "m@x").href,
    "https://app.example/?labkeyToken=ab12&labkeyEmail=m%40x",
  );
});

Deno.test("escapeXmlAttribute() keeps the document well-formed for any text", () => {
  const nasty = `a&b"c'd<e>f\tg\nh\u0000i\u001fj\ud800k😀`;
  const xml = `<T v="${escapeXmlAttribute(nasty)}"/>`;
  assert.equal(XMLValidator.validate(xml), true, xml);
  const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(xml);
  assert.ok(String(parsed.T.v).startsWith(`a&b"c'd<e>f`));
  assert.ok(!xml.includes("\u0000"));
});
