/**
 * The whole shadow catalog, read by a connection below a list's PHI level,
 * after ANALYZE: no view names the withheld column, its comment or its
 * statistics. Apart from catalog_sweep_test.ts, as each sweep is one of the
 * suite's longest tests.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type { Actor } from "../../src/core/actor.ts";
import { createList } from "../../src/data/lists.ts";
import { insertRows } from "../../src/data/rows.ts";
import { query } from "../../wire/protocol/messages.ts";
import { backendTest } from "../_support/backends.ts";
import { shadowViews } from "./_catalog.ts";
import { rowsOf, text } from "./_client.ts";
import { connectRawClient, FOLDER, openDoor } from "./_door.ts";

backendTest(
  "no catalog view names a column above the connection's PHI level or shows its values",
  async (t) => {
    await using fx = await openDoor(t);
    const list = await createList(t.svc, t.admin, FOLDER, {
      name: "patients",
      key: "id",
      columns: [
        { name: "id", type: "Integer" },
        { name: "site", type: "Text", description: "Where the sample came from" },
        { name: "zzmrn", type: "Text", phi: "full", description: "The zzdescribed record number" },
      ],
    });
    const fullPhi: Actor = { ...t.admin, phiLevel: "full" };
    await insertRows(t.svc, fullPhi, list, [{ id: 1, site: "north", zzmrn: "ZZSECRET-9" }]);
    await sql`analyze`.execute(t.svc.database.root);
    await using client = await connectRawClient(fx.port);
    const seen: string[] = [];
    for (const view of await shadowViews(t)) {
      client.send(query(`select * from ${view}`));
      const received = text(await client.until("Z", 60_000));
      if (/zzmrn|ZZSECRET|zzdescribed/.test(received)) seen.push(view);
    }
    assert.deepEqual(seen, []);
    // The visible column is there, comment and statistics included.
    client.send(query(
      "select (select count(*) from pg_stats where attname = 'site'), " +
        "(select count(*) from pg_description where description like 'Where%')",
    ));
    assert.deepEqual(rowsOf(await client.until()), [["1", "1"]]);
  },
);
