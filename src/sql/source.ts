/**
 * The client's SQL text as the parser sees it (UTF-8 byte offsets) and as
 * JavaScript and PostgreSQL see it (UTF-16 indexes, 1-based character
 * positions), with the splices that rewrite it.
 */
import { scan, type Token } from "./parser.ts";

/** Replace bytes [start, end) of the client's text with `text`. */
export interface Splice {
  start: number;
  end: number;
  text: string;
}

const encoder = new TextEncoder();

export class SourceText {
  readonly text: string;
  /** Length of the text in UTF-8 bytes. */
  readonly byteLength: number;
  /** UTF-16 index of each byte offset, or null when text is ASCII (they are equal). */
  readonly #byteIndex: Int32Array | null;
  #tokens: Token[] | undefined;

  constructor(text: string) {
    this.text = text;
    this.#byteIndex = isAscii(text) ? null : byteIndex(text);
    this.byteLength = this.#byteIndex ? this.#byteIndex.length - 1 : text.length;
  }

  /** UTF-16 index of a byte offset that starts a character. */
  index(byte: number): number {
    return this.#byteIndex ? this.#byteIndex[byte] : byte;
  }

  /** PostgreSQL's 1-based character position of a byte offset. */
  position(byte: number): number {
    return characterPosition(this.text, this.index(byte));
  }

  /** The text of bytes [start, end). */
  slice(start: number, end: number): string {
    return this.text.slice(this.index(start), this.index(end));
  }

  /**
   * The scanner's tokens (comments excluded) from the one that starts at
   * byte `start` (parse-tree locations start tokens): enough for a name and
   * what follows it. The text is scanned once, on first use.
   */
  tokensFrom(start: number): Token[] {
    const tokens = this.tokensAfter(start);
    if (tokens[0]?.start !== start) throw new Error(`No token starts at byte ${start}`);
    return tokens;
  }

  /** The same from the first token at or after byte `start` (statements may start with space). */
  tokensAfter(start: number): Token[] {
    const low = this.#firstAt(start);
    return this.#tokens!.slice(low, low + TOKENS_AFTER);
  }

  /** The token that ends before byte `start` (a keyword before a name: TABLE, ONLY), if any. */
  tokenBefore(start: number): Token | undefined {
    const low = this.#firstAt(start);
    return low > 0 ? this.#tokens![low - 1] : undefined;
  }

  /** Index of the first token at or after byte `start`; the text is scanned once, on first use. */
  #firstAt(start: number): number {
    this.#tokens ??= scan(this.text).filter((t) => !t.tokenName.endsWith("_COMMENT"));
    const tokens = this.#tokens;
    let low = 0;
    let high = tokens.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (tokens[middle].start < start) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * The rewritten text and a map from a 1-based character position in it
   * (as the engine reports errors) to the same position in the client's text.
   */
  apply(splices: Splice[]): { text: string; positionMap: (position: number) => number } {
    if (splices.length === 0) return { text: this.text, positionMap: (p) => p };
    const sorted = [...splices].sort((a, b) => a.start - b.start || a.end - b.end);
    const segments: Segment[] = [];
    let out = "";
    let from = 0;
    for (const splice of sorted) {
      const start = this.index(splice.start);
      if (start < from) throw new Error(`Overlapping rewrites at byte ${splice.start}`);
      segments.push({ out: out.length, source: from, copied: true });
      out += this.text.slice(from, start);
      segments.push({ out: out.length, source: start, copied: false });
      // `FROM"lists".t` must not become `FROMlg_c42.t`: keep tokens apart.
      const end = this.index(splice.end);
      const before = identifierChar(this.text, start - 1) && identifierChar(splice.text, 0);
      const after = identifierChar(splice.text, splice.text.length - 1) &&
        identifierChar(this.text, end);
      out += (before ? " " : "") + splice.text + (after ? " " : "");
      from = end;
    }
    segments.push({ out: out.length, source: from, copied: true });
    out += this.text.slice(from);
    const rewritten = out;
    return {
      text: rewritten,
      positionMap: (position) => {
        const index = utf16Index(rewritten, position - 1);
        let segment = segments[0];
        for (const s of segments) {
          if (s.out > index) break;
          segment = s;
        }
        const source = segment.copied ? segment.source + index - segment.out : segment.source;
        return characterPosition(this.text, Math.min(source, this.text.length));
      },
    };
  }
}

/** Tokens tokensFrom() returns: a name of three parts and array bounds need fewer. */
const TOKENS_AFTER = 32;

interface Segment {
  /** Where the segment starts in the rewritten text (UTF-16 index). */
  out: number;
  /** Where it starts in the client's text (UTF-16 index). */
  source: number;
  /** Copied from the client's text (else a replacement, mapped to its start). */
  copied: boolean;
}

/** Can the character at `index` continue an SQL identifier or keyword? */
function identifierChar(text: string, index: number): boolean {
  if (index < 0 || index >= text.length) return false;
  const code = text.charCodeAt(index);
  return code > 0x7f || code === 0x24 || code === 0x5f || (code >= 0x30 && code <= 0x39) ||
    ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a);
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

function byteIndex(text: string): Int32Array {
  const map = new Int32Array(encoder.encode(text).length + 1);
  let byte = 0;
  for (let i = 0; i < text.length; i++) {
    map[byte] = i;
    const code = text.codePointAt(i)!;
    const width = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    for (let k = 1; k < width; k++) map[byte + k] = i;
    byte += width;
    if (code >= 0x10000) i++;
  }
  map[byte] = text.length;
  return map;
}

/** 1-based count of characters (code points) up to a UTF-16 index. */
function characterPosition(text: string, index: number): number {
  let position = 1;
  for (let i = 0; i < index; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800 || code > 0xdbff) position++;
  }
  return position;
}

/** UTF-16 index of the character at 0-based code point offset `offset`. */
function utf16Index(text: string, offset: number): number {
  let index = 0;
  for (let n = 0; n < offset && index < text.length; n++) {
    const code = text.charCodeAt(index);
    index += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
  }
  return index;
}
