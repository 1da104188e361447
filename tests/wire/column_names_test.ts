import assert from "node:assert/strict";
import { createList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { Reader } from "../../wire/protocol/bytes.ts";
import { query } from "../../wire/protocol/messages.ts";
import { backendTest } from "../_support/backends.ts";
import { errorOf, type Message, rowsOf } from "./_client.ts";
import { connectRawClient, FOLDER, openDoor } from "./_door.ts";

/** The column names of the first RowDescription. */
function columnNames(messages: Message[]): string[] {
  const description = messages.find((m) => m.type === "T");
  if (!description) throw new Error(`No RowDescription: ${messages.map((m) => m.type).join("")}`);
  const r = new Reader(description.bytes, 5);
  const names: string[] = [];
  for (let i = r.i16(); i > 0; i--) {
    names.push(new TextDecoder().decode(r.cbytes()));
    r.bytes(18);
  }
  return names;
}

backendTest(
  "the SQL door shows list columns as defined and takes them quoted or in any case",
  async (t) => {
    await using fx = await openDoor(t);
    const def = await createList(t.svc, t.admin, FOLDER, {
      name: "Plates",
      key: "SampleId",
      columns: [{ name: "SampleId", type: "Text" }, { name: "DoseMg", type: "Double" }, {
        name: "site",
        type: "Text",
      }],
    });
    await insertRows(t.svc, t.admin, def, [{ SampleId: "S1", DoseMg: 1.5, site: "Oslo" }]);
    await using client = await connectRawClient(fx.port);
    const ask = async (sql: string) => {
      client.send(query(sql));
      return await client.until();
    };
    const all = await ask("select * from plates");
    assert.deepEqual(columnNames(all), ["SampleId", "DoseMg", "site"]);
    assert.deepEqual(rowsOf(all), [["S1", "1.5", "Oslo"]]);
    for (
      const sql of [
        'select "SampleId", "DoseMg" from plates where "SampleId" = \'S1\'',
        "select sampleid, dosemg from plates where SAMPLEID = 'S1'",
        'select p."SampleId", p.dosemg from lists.plates p order by p."DoseMg"',
      ]
    ) {
      const reply = await ask(sql);
      assert.equal(reply.find((m) => m.type === "E"), undefined, sql);
      assert.deepEqual(columnNames(reply), ["SampleId", "DoseMg"], sql);
    }
    assert.deepEqual(columnNames(await ask("select sampleid as id, upper(site) from plates")), [
      "id",
      "upper",
    ], "an alias or an expression keeps its own name");
    const catalog = await ask(
      "select attname from pg_attribute where attrelid = 'plates'::regclass and attnum > 0 order by attnum",
    );
    assert.deepEqual(rowsOf(catalog), [["SampleId"], ["DoseMg"], ["site"]]);
    const info = await ask(
      "select column_name from information_schema.columns where table_name = 'plates' order by ordinal_position",
    );
    assert.deepEqual(rowsOf(info), [["SampleId"], ["DoseMg"], ["site"]]);
    const wrongCase = (await ask('select "sampleId" from plates')).find((m) => m.type === "E")!;
    assert.equal(errorOf(wrongCase).code, "42703", "a quoted name in another case is no column");
  },
);
