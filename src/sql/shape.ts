/**
 * Statements that differ only in their numbers share one analysis. Clients
 * that inline values (pgbench -M simple, psql, ORMs quoting on the client
 * side) send a new text for every row they ask for, so a cache keyed by text
 * alone misses every time and each statement pays a full parse. Here each
 * numeric literal becomes a parameter (`id = 42` → `id = $1`); that shape is
 * analysed once, and its rewritten text gets the client's numbers back.
 *
 * Why this is as safe as analysing the text itself: the analysis of a
 * statement with parameters already holds for every value a client may bind
 * to them (the extended protocol lets it bind any), and a number is such a
 * value. The numbers go back exactly where the parameters stand in the
 * rewritten text, so what runs is the client's text with the shape's
 * rewrites. Anything this cheap scanner cannot be sure about (dollar
 * quotes, backslashes, digits glued to letters, unterminated quotes) keeps
 * the full analysis of the text, as does any shape the sandbox refuses.
 */

/** The client's text with numbers as parameters, and the numbers taken out. */
interface Shape {
  /** The text with `$1`, `$2`, … in place of the numbers. */
  text: string;
  numbers: Literal[];
}

interface Literal {
  /** UTF-16 index in the client's text (equal to its character offset: no surrogates). */
  at: number;
  text: string;
}

/** More numbers than this: analyse the text itself. */
const MAX_NUMBERS = 1000;

const Char = {
  Quote: 0x27,
  DoubleQuote: 0x22,
  Dash: 0x2d,
  Slash: 0x2f,
  Star: 0x2a,
  Dot: 0x2e,
  Dollar: 0x24,
  Plus: 0x2b,
  LowerE: 0x65,
  CloseParen: 0x29,
  CloseBracket: 0x5d,
} as const;

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/**
 * Can `code` start (or, with digits, continue) an identifier or keyword?
 * PostgreSQL takes every non-ASCII character as a letter.
 */
function isIdentifierStart(code: number): boolean {
  return code === 0x5f || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a) || code > 0x7f;
}

/**
 * The shape of `text`, or null when it has no numbers or the scanner would
 * have to guess how PostgreSQL's lexer splits it.
 */
export function numbersAsParameters(text: string): Shape | null {
  // `$` (parameters, dollar quotes), backslashes (E'' escapes) and surrogate pairs (where
  // character positions and UTF-16 indexes differ) are left to the full analysis.
  if (UNSURE.test(text)) return null;
  const n = text.length;
  const numbers: Literal[] = [];
  let shape = "";
  let copied = 0;
  for (let i = 0; i < n;) {
    const code = text.charCodeAt(i);
    if (code === Char.Quote || code === Char.DoubleQuote) {
      // '…' and "…", with doubled quotes inside.
      let j = i + 1;
      for (;;) {
        j = text.indexOf(text[i], j);
        if (j < 0) return null;
        if (text.charCodeAt(j + 1) !== code) break;
        j += 2;
      }
      i = j + 1;
    } else if (code === Char.Dash && text.charCodeAt(i + 1) === Char.Dash) {
      const end = text.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
    } else if (code === Char.Slash && text.charCodeAt(i + 1) === Char.Star) {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      let j = i + 2;
      while (depth > 0) {
        if (j >= n) return null;
        const c = text.charCodeAt(j);
        if (c === Char.Slash && text.charCodeAt(j + 1) === Char.Star) {
          depth++;
          j += 2;
        } else if (c === Char.Star && text.charCodeAt(j + 1) === Char.Slash) {
          depth--;
          j += 2;
        } else j++;
      }
      i = j;
    } else if (isIdentifierStart(code)) {
      i++;
      while (i < n && (isIdentifierStart(text.charCodeAt(i)) || isDigit(text.charCodeAt(i)))) i++;
    } else if (isDigit(code) || (code === Char.Dot && isDigit(text.charCodeAt(i + 1)))) {
      const end = numberEnd(text, i);
      if (end < 0 || numbers.length === MAX_NUMBERS) return null;
      numbers.push({ at: i, text: text.slice(i, end) });
      shape += `${text.slice(copied, i)}$${numbers.length}`;
      copied = end;
      i = end;
    } else i++;
  }
  if (numbers.length === 0) return null;
  return { text: shape + text.slice(copied), numbers };
}

const UNSURE = /[$\\\ud800-\udfff]/;

/**
 * End of the number at `start`, as PostgreSQL's lexer reads it (integer,
 * decimal, real), or -1 when its reading depends on the server version or
 * on what follows (`1..2`, `1e`, `0x1F`, `1_000`, `t.5`, `5abc`).
 */
function numberEnd(text: string, start: number): number {
  const before = text.charCodeAt(start - 1);
  if (
    start > 0 && (isIdentifierStart(before) || isDigit(before) || before === Char.Dot ||
      before === Char.DoubleQuote || before === Char.CloseParen || before === Char.CloseBracket)
  ) return -1;
  let j = start;
  while (isDigit(text.charCodeAt(j))) j++;
  if (text.charCodeAt(j) === Char.Dot) {
    if (text.charCodeAt(j + 1) === Char.Dot) return -1;
    j++;
    while (isDigit(text.charCodeAt(j))) j++;
  }
  if ((text.charCodeAt(j) | 0x20) === Char.LowerE) {
    let k = j + 1;
    const sign = text.charCodeAt(k);
    if (sign === Char.Plus || sign === Char.Dash) k++;
    if (!isDigit(text.charCodeAt(k))) return -1;
    while (isDigit(text.charCodeAt(k))) k++;
    j = k;
  }
  const after = text.charCodeAt(j);
  if (isIdentifierStart(after) || after === Char.Dot || after === Char.Dollar) return -1;
  return j;
}

/**
 * Where `$1` … `$count` stand in a shape's rewritten text, in order, or
 * null when the rewrite moved, dropped or repeated one (or wrote a `$` of
 * its own): then the shape cannot be filled in.
 */
export function parameterSlots(rewritten: string, count: number): number[] | null {
  if (/[\ud800-\udfff]/.test(rewritten)) return null;
  const slots: number[] = [];
  for (let at = rewritten.indexOf("$"); at >= 0; at = rewritten.indexOf("$", at + 1)) {
    const digits = /^\d+/.exec(rewritten.slice(at + 1, at + 12))?.[0];
    if (digits !== String(slots.length + 1)) return null;
    slots.push(at);
  }
  return slots.length === count ? slots : null;
}

/**
 * The shape's rewritten text with the client's numbers back in the slots,
 * and a position map from that text to the client's: through the shape's
 * own map, with offsets corrected for each number's length.
 */
export function fillShape(
  shape: Shape,
  rewritten: string,
  slots: number[],
  shapeMap: (position: number) => number,
): { text: string; positionMap: (position: number) => number } {
  let text = "";
  let from = 0;
  shape.numbers.forEach((number, i) => {
    text += rewritten.slice(from, slots[i]) + number.text;
    from = slots[i] + parameterLength(i);
  });
  text += rewritten.slice(from);
  return {
    text,
    positionMap: (position) => {
      // Filled-in text → the shape's rewritten text → the shape's text → the client's text.
      const { index, within } = shapeIndex(position - 1, slots, shape.numbers);
      return clientIndex(shapeMap(index + 1) - 1, shape.numbers) + within + 1;
    },
  };
}

/**
 * Index in the shape's rewritten text of index `at` of the filled-in text;
 * inside a number: its `$n`, and how far into the number `at` is.
 */
function shapeIndex(
  at: number,
  slots: number[],
  numbers: Literal[],
): { index: number; within: number } {
  // Before number i, the rewritten text is ahead of the filled-in one by `shift`.
  let shift = 0;
  for (let i = 0; i < slots.length; i++) {
    const start = slots[i] - shift;
    if (at < start) break;
    if (at < start + numbers[i].text.length) return { index: slots[i], within: at - start };
    shift += parameterLength(i) - numbers[i].text.length;
  }
  return { index: at + shift, within: 0 };
}

/** Index in the client's text of index `at` of the shape's text; inside `$n`: its number. */
function clientIndex(at: number, numbers: Literal[]): number {
  let shift = 0;
  for (let i = 0; i < numbers.length; i++) {
    const start = numbers[i].at + shift;
    if (at < start) break;
    if (at < start + parameterLength(i)) return numbers[i].at;
    shift += parameterLength(i) - numbers[i].text.length;
  }
  return at - shift;
}

/** Length of `$n` for the number at index i. */
function parameterLength(i: number): number {
  return String(i + 1).length + 1;
}
