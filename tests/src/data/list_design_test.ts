import assert from "node:assert/strict";
import { applyDesignChange, previewDesignChange } from "../../../src/data/list_design.ts";
import { createList, getList } from "../../../src/data/lists.ts";
import { insertRows, selectRows } from "../../../src/data/rows.ts";
import { backendTest, type TestContext } from "../../_support/backends.ts";

async function samples(t: TestContext) {
  const def = await createList(t.svc, t.admin, "/home", {
    name: "samples",
    key: "Id",
    autoKey: true,
    columns: [{ name: "Name", type: "Text" }, { name: "Dose", type: "Double" }],
  });
  await insertRows(t.svc, t.admin, def, [{ Name: "a", Dose: 1 }, { Name: "b", Dose: null }, {
    Name: "c",
    Dose: 3,
  }]);
  return def;
}

backendTest(
  "applyDesignChange() adds, renames and drops columns with their rows in place",
  async (t) => {
    let def = await samples(t);
    const add = await previewDesignChange(t.svc, t.admin, def, {
      kind: "add",
      column: { name: "Site", type: "Text" },
    });
    assert.deepEqual(add.effects, [
      "Adds the Text column Site; the 3 existing rows get no value in it.",
    ]);
    ({ def } = await applyDesignChange(t.svc, t.admin, def, {
      kind: "add",
      column: { name: "Site", type: "Text", description: "where" },
    }));
    assert.deepEqual(def.columns.map((c) => c.name), ["Id", "Name", "Dose", "Site"]);
    await insertRows(t.svc, t.admin, def, [{ Name: "d", Site: "Oslo" }]);

    ({ def } = await applyDesignChange(t.svc, t.admin, def, {
      kind: "rename",
      column: "Dose",
      to: "DoseMg",
    }));
    const renamed = await selectRows(
      t.svc,
      t.admin,
      await getList(t.svc, t.admin, "/home", "samples"),
      {
        sort: [{ column: "Id" }],
      },
    );
    assert.deepEqual(renamed.rows.map((r) => r.DoseMg), [1, null, 3, null], "values stay");

    const drop = await previewDesignChange(t.svc, t.admin, def, { kind: "drop", column: "DoseMg" });
    assert.equal(drop.valuesLost, 2);
    assert.match(
      drop.effects[0],
      /^Drops DoseMg and its 2 values \(of 4 rows\): they cannot be recovered/,
    );
    ({ def } = await applyDesignChange(t.svc, t.admin, def, { kind: "drop", column: "DoseMg" }));
    assert.deepEqual(def.columns.map((c) => c.name), ["Id", "Name", "Site"]);
    ({ def } = await applyDesignChange(t.svc, t.admin, def, {
      kind: "describe",
      description: "Samples of the week",
    }));
    assert.equal(def.list.description, "Samples of the week");

    await t.svc.audit.flush();
    const audited = await t.svc.db.selectFrom("audit_log").select(["detail", "rows"])
      .where("event", "=", "list.design").orderBy("id").execute();
    assert.equal(audited.length, 4);
    assert.equal(audited[2].rows, 2, "the values the drop lost");
  },
);

backendTest(
  "previewDesignChange() refuses what would break the list, and changes nothing",
  async (t) => {
    const def = await samples(t);
    const refused = async (change: Parameters<typeof previewDesignChange>[3], message: RegExp) => {
      await assert.rejects(previewDesignChange(t.svc, t.admin, def, change), message);
      await assert.rejects(applyDesignChange(t.svc, t.admin, def, change), message);
    };
    await refused({ kind: "drop", column: "Id" }, /Id is the key: it cannot be dropped/);
    await refused(
      { kind: "add", column: { name: "name", type: "Text" } },
      /already has a column "name"/,
    );
    await refused(
      { kind: "add", column: { name: "Lot", type: "Text", required: true } },
      /A required column cannot be added to a list with rows/,
    );
    await refused({ kind: "add", column: { name: "Lot", type: "Blob" } }, /unknown type "Blob"/);
    await refused({ kind: "rename", column: "Dose", to: "select" }, /reserved SQL word/);
    await refused({ kind: "rename", column: "Nope", to: "x" }, /Column "Nope" is not in samples/);
    const same = await getList(t.svc, t.admin, "/home", "samples");
    assert.deepEqual(same.columns.map((c) => c.name), ["Id", "Name", "Dose"]);
  },
);
