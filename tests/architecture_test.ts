/**
 * The layer rule of docs/architecture.md, checked on every import (`import
 * type` too) in src/, routes/, wire/ and main.ts: an import goes to the same
 * layer or one below, a door never imports another door, routes/ and wire/
 * never import each other, and no import closes a cycle between files or
 * between folders.
 */
import assert from "node:assert/strict";

/** Lowest first. A file belongs to the first layer whose pattern matches its path. */
const LAYERS: [name: string, pattern: RegExp][] = [
  ["db", /^src\/db\//],
  ["core", /^src\/([^/]+\.ts|core\/|security\/|audit\/|ops\/)/],
  ["data", /^src\/data\//],
  ["auth", /^src\/auth\//],
  ["sandbox", /^src\/sql\//],
  ["doors", /^src\/doors\//],
  ["app", /^src\/app\//],
  ["routes/wire", /^(routes|wire)\//],
  ["main", /^main\.ts$/],
];

/**
 * Imports that still break the rule, each with why; docs/architecture.md
 * lists them under "What is left". The test fails when one is no longer
 * needed, so this list only shrinks.
 */
const KNOWN: Record<string, string> = {};

type Graph = Map<string, string[]>;

function layerOf(path: string): number {
  return LAYERS.findIndex(([, pattern]) => pattern.test(path));
}

/** The unit folder cycles are counted between: a door, a folder, or core as one. */
function unitOf(path: string): string {
  const door = /^src\/doors\/([^/]+)\//.exec(path);
  if (door) return `src/doors/${door[1]}`;
  if (LAYERS[layerOf(path)]?.[0] === "core") return "core";
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : path;
}

const IMPORT =
  /^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm;

function resolve(from: string, specifier: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const part of specifier.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  return parts.join("/");
}

/** The relative imports of a file's text, as repository paths. */
function importsOf(path: string, text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier.startsWith(".")) found.add(resolve(path, specifier));
  }
  return [...found];
}

/** Strongly connected components with more than one member (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const to of graph.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** Every break of the layer rule in `graph` (file → the files it imports), and the known ones it used. */
function violations(graph: Graph): { broken: string[]; used: Set<string> } {
  const broken: string[] = [];
  const used = new Set<string>();
  const files = new Map<string, Set<string>>();
  const units = new Map<string, Set<string>>();
  for (const [from, targets] of graph) {
    files.set(from, new Set());
    for (const to of targets) {
      const edge = `${from} -> ${to}`;
      const [fromLayer, toLayer] = [layerOf(from), layerOf(to)];
      let why: string | null = null;
      if (toLayer < 0) why = "imports outside src/, routes/, wire/";
      else if (toLayer > fromLayer) {
        why = `${LAYERS[fromLayer][0]} imports ${LAYERS[toLayer][0]}, a higher layer`;
      } else if (
        from.startsWith("src/doors/") && to.startsWith("src/doors/") && unitOf(from) !== unitOf(to)
      ) why = "a door imports another door";
      else if (from.split("/")[0] !== to.split("/")[0] && LAYERS[fromLayer][0] === "routes/wire") {
        if (LAYERS[toLayer][0] === "routes/wire") why = "routes/ and wire/ import each other";
      }
      if (why && edge in KNOWN) {
        used.add(edge);
        continue;
      }
      if (why) broken.push(`${edge}: ${why}`);
      files.get(from)!.add(to);
      const [a, b] = [unitOf(from), unitOf(to)];
      if (a !== b) {
        if (!units.has(a)) units.set(a, new Set());
        units.get(a)!.add(b);
      }
    }
  }
  for (const cycle of cycles(files)) broken.push(`file cycle: ${cycle.join(" ⇄ ")}`);
  for (const cycle of cycles(units)) broken.push(`folder cycle: ${cycle.join(" ⇄ ")}`);
  return { broken, used };
}

async function sourceGraph(): Promise<Graph> {
  const root = new URL("../", import.meta.url);
  const graph: Graph = new Map();
  const add = async (path: string) =>
    graph.set(path, importsOf(path, await Deno.readTextFile(new URL(path, root))));
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, root))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (/\.tsx?$/.test(entry.name)) await add(path);
    }
  };
  for (const dir of ["src", "routes", "wire"]) await walk(dir);
  await add("main.ts");
  return graph;
}

Deno.test("every import in src/, routes/, wire/ and main.ts keeps the layer rule", async () => {
  const graph = await sourceGraph();
  assert.ok(graph.size > 100, "the walk found the sources");
  const { broken, used } = violations(graph);
  assert.deepEqual(broken, []);
  assert.deepEqual(Object.keys(KNOWN).filter((edge) => !used.has(edge)), [], "no longer needed");
});

Deno.test("bench/ imports nothing from tests/", async () => {
  for await (const entry of Deno.readDir(new URL("../bench/", import.meta.url))) {
    if (!entry.isFile || !/\.tsx?$/.test(entry.name)) continue;
    const path = `bench/${entry.name}`;
    const text = await Deno.readTextFile(new URL(`../${path}`, import.meta.url));
    assert.deepEqual(importsOf(path, text).filter((to) => to.startsWith("tests/")), [], path);
  }
});

Deno.test("importsOf() reads static, type-only, re-export, multi-line and dynamic imports", () => {
  const text = [
    'import { a } from "./a.ts";',
    'import type { B } from "../core/b.ts";',
    'export { c } from "./c.ts";',
    "import {",
    "  d,",
    '} from "./d.ts";',
    'import "./e.ts";',
    'const f = await import("./f.ts");',
    'import pg from "pg";',
    ' * import { g } from "./g.ts" in a comment line is not an import',
  ].join("\n");
  assert.deepEqual(importsOf("src/auth/x.ts", text).sort(), [
    "src/auth/a.ts",
    "src/auth/c.ts",
    "src/auth/d.ts",
    "src/auth/e.ts",
    "src/auth/f.ts",
    "src/core/b.ts",
  ]);
});

Deno.test("violations() reports an upward import, a door importing a door, and cycles", () => {
  const graph: Graph = new Map([
    ["src/data/rows.ts", ["src/auth/login.ts"]],
    ["src/doors/keys/mod.ts", ["src/doors/tokens/mod.ts"]],
    ["src/doors/tokens/mod.ts", []],
    ["src/auth/login.ts", []],
    ["routes/a/x.ts", ["routes/b/y.ts"]],
    ["routes/b/y.ts", ["routes/a/z.ts"]],
    ["routes/a/z.ts", []],
    ["src/sql/one.ts", ["src/sql/two.ts"]],
    ["src/sql/two.ts", ["src/sql/one.ts"]],
    ["wire/mod.ts", ["routes/mod.ts", "tests/_support/x.ts"]],
    ["routes/mod.ts", []],
  ]);
  assert.deepEqual(violations(graph).broken, [
    "src/data/rows.ts -> src/auth/login.ts: data imports auth, a higher layer",
    "src/doors/keys/mod.ts -> src/doors/tokens/mod.ts: a door imports another door",
    "wire/mod.ts -> routes/mod.ts: routes/ and wire/ import each other",
    "wire/mod.ts -> tests/_support/x.ts: imports outside src/, routes/, wire/",
    "file cycle: src/sql/one.ts ⇄ src/sql/two.ts",
    "folder cycle: routes/a ⇄ routes/b",
  ]);
});
