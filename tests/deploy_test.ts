/** The container files: what `docker compose up` would run, checked without Docker. */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { loadConfig } from "../src/config.ts";

const root = new URL("../", import.meta.url);
const read = (name: string) => Deno.readTextFile(new URL(name, root));

/** Dockerfile instructions as [keyword, argument], continuation lines joined. */
function instructions(text: string): [string, string][] {
  return text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const space = l.indexOf(" ");
      return [l.slice(0, space).toUpperCase(), l.slice(space + 1).trim()];
    });
}

Deno.test("Dockerfile installs Deno from npm, runs as a user, and names both ports and the data dir", async () => {
  const steps = instructions(await read("Dockerfile"));
  const all = (keyword: string) => steps.filter(([k]) => k === keyword).map(([, v]) => v);
  assert.match(all("FROM")[0], /^node:/);
  assert.ok(all("RUN").some((r) => /npm install -g "deno@\$\{DENO_VERSION\}"/.test(r)));
  assert.ok(all("ARG").includes("DENO_VERSION=2.9.6"), "the Deno CI uses");
  const user = all("USER").at(-1);
  assert.ok(user && user !== "root" && user !== "0", "runs as a user of its own");
  assert.deepEqual(all("EXPOSE"), ["8080 5435"]);
  assert.deepEqual(all("VOLUME"), ['["/data"]']);
  const env = all("ENV").join(" ");
  assert.match(env, /PORT=8080/);
  assert.match(env, /LABGATE_SQL_DOOR_PORT=5435/);
  assert.match(env, /LABGATE_DATA_DIR=\/data/);
  assert.match(all("HEALTHCHECK")[0], /\/readyz/);
  assert.deepEqual(all("CMD"), ['["deno", "task", "start"]']);
});

Deno.test("compose.yaml runs PostgreSQL and two labgate instances on it, with documented variables", async () => {
  const compose = parse(await read("compose.yaml"));
  const readme = await read("README.md");
  assert.deepEqual(Object.keys(compose.services).sort(), ["labgate-1", "labgate-2", "postgres"]);
  assert.match(compose.services.postgres.image, /^postgres:/);
  const ports = ["labgate-1", "labgate-2"].map((name) => compose.services[name].ports);
  assert.deepEqual(ports, [["8080:8080", "5435:5435"], ["8081:8080", "5436:5435"]]);
  for (const name of ["labgate-1", "labgate-2"]) {
    const service = compose.services[name];
    assert.equal(service.build, ".");
    const env = service.environment as Record<string, string>;
    assert.match(env.DATABASE_URL, /^postgres:\/\/labgate:.*@postgres:5432\/labgate$/);
    assert.ok(env.LABGATE_SECRET_KEY, "both instances share the key that seals the TLS key");
    for (const variable of Object.keys(env)) {
      assert.match(readme, new RegExp("`" + variable + "`"), `${variable} is documented in README`);
    }
    // The values (defaults substituted) are ones labgate accepts.
    const values = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, v.replace(/\$\{\w+:-([^}]*)\}/g, "$1")]),
    );
    loadConfig(values);
  }
  assert.match(readme, /docker compose up/);
});
