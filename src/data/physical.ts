/**
 * Names of the physical objects behind folders and lists. Clients never
 * see these (the SQL door renames them to `lists`), so they all start with
 * `lg_`, which the door's output filter looks for.
 */

/** The schema holding a folder's list tables. */
export function folderSchema(containerId: number): string {
  return `lg_c${containerId}`;
}

/** The NOLOGIN role that may read exactly one folder's lists. */
export function folderRole(installId: string, containerId: number): string {
  return `lg_${installId}_c${containerId}`;
}

/** Names users give lists and columns, also used as SQL identifiers. */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;

/** Words that would need quoting in every SQL statement a user writes. */
const RESERVED = new Set(
  ("all analyse analyze and any array as asc asymmetric both case cast check collate column " +
    "constraint create current_catalog current_date current_role current_time " +
    "current_timestamp current_user default deferrable desc distinct do else end except false " +
    "fetch for foreign from grant group having in initially intersect into lateral leading " +
    "limit localtime localtimestamp not null offset on only or order placing primary " +
    "references returning select session_user some symmetric system_user table then to " +
    "trailing true union unique user using variadic when where window with oid ctid xmin " +
    "xmax cmin cmax tableoid")
    .split(" "),
);

/** The physical name for a user-given list or column name, or an error message. */
export function physicalName(name: string, what: "list" | "column"): string | Error {
  if (!IDENTIFIER.test(name)) {
    return new Error(
      `${
        what === "list" ? "List" : "Column"
      } name "${name}" is not valid: use a letter followed by letters, digits or _ (at most 63)`,
    );
  }
  const lower = name.toLowerCase();
  if (RESERVED.has(lower)) {
    return new Error(`"${name}" is a reserved SQL word: choose another ${what} name`);
  }
  if (lower.startsWith("lg_") || lower.startsWith("pg_")) {
    return new Error(
      `${what === "list" ? "List" : "Column"} names may not start with "${lower.slice(0, 3)}"`,
    );
  }
  return lower;
}
