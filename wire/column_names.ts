/**
 * List columns defined with capitals (`SampleId`) are stored lower case
 * (`sampleid`), PostgreSQL's unquoted form. A RowDescription names them as
 * stored; the door renames each field that is such a column — known by its
 * table OID and column number — back to the name as defined, unless the
 * query gave it another name (an alias keeps its own).
 */
import type { ShownColumn } from "../src/sql/mod.ts";
import { decodeText, Reader, Writer } from "./protocol/bytes.ts";
import { BackendCode } from "./protocol/message_codes.ts";

export class ShownNames {
  readonly #byColumn: Map<string, string>;

  constructor(columns: readonly ShownColumn[]) {
    this.#byColumn = new Map(columns.map((c) => [`${c.relation}:${c.attnum}`, c.name]));
  }

  /** The message with the fields renamed, or null when none needs it (most, at no cost). */
  rename(frame: Uint8Array): Uint8Array | null {
    if (this.#byColumn.size === 0) return null;
    const r = new Reader(frame, 5);
    const count = r.i16();
    const fields: { name: string; rest: Uint8Array }[] = [];
    let renamed = false;
    for (let i = 0; i < count; i++) {
      let name = decodeText(r.cbytes());
      const rest = r.bytes(18);
      const view = new DataView(rest.buffer, rest.byteOffset, rest.byteLength);
      const shown = this.#byColumn.get(`${view.getUint32(0)}:${view.getInt16(4)}`);
      if (shown !== undefined && shown.toLowerCase() === name) {
        name = shown;
        renamed = true;
      }
      fields.push({ name, rest });
    }
    if (!renamed) return null;
    const w = new Writer().begin(BackendCode.RowDescription).i16(count);
    for (const field of fields) w.str(field.name).bytes(field.rest);
    return w.end().take();
  }
}
