/** The token door: external apps, their auth tokens, and using them. */
export * from "./apps.ts";
export { TOKEN_CACHE_MS } from "./cache.ts";
export * from "./resolve.ts";
export * from "./settings.ts";
export * from "./tokens.ts";
