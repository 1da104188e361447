/**
 * The passwords attackers try first: zxcvbn-ts's list of common passwords
 * (about 49,000, from breach corpora; maintained on npm as
 * `@zxcvbn-ts/language-common`). Loaded on the first password change, not
 * at start, since it is a few hundred kilobytes.
 */
let common: Promise<ReadonlySet<string>> | undefined;

async function load(): Promise<ReadonlySet<string>> {
  const { dictionary } = await import("@zxcvbn-ts/language-common");
  return new Set(dictionary["passwords-common"].map((p: string) => p.toLowerCase()));
}

/** Whether the password is on the list, ignoring case and surrounding spaces. */
export async function isCommonPassword(password: string): Promise<boolean> {
  common ??= load();
  return (await common).has(password.trim().toLowerCase());
}
