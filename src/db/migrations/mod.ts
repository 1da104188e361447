import type { Migration } from "kysely/migration";
import * as core from "./001_core.ts";
import * as tokens from "./005_tokens.ts";

/** Every migration, by name; names sort in the order they run. */
export const migrations: Record<string, Migration> = {
  "001_core": core,
  "005_tokens": tokens,
};
