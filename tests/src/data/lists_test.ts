import assert from "node:assert/strict";
import { sql } from "kysely";
import { createContainer, setPolicy } from "../../../src/data/containers.ts";
import { createList, deleteList, getList } from "../../../src/data/lists.ts";
import { folderSchema } from "../../../src/data/physical.ts";
import {
  deleteRows,
  type Filter,
  importRows,
  insertRows,
  selectRows,
  updateRows,
} from "../../../src/data/rows.ts";
import { createUser } from "../../../src/data/users.ts";
import { LabgateError } from "../../../src/errors.ts";
import { actorOf, backendTest, type TestContext } from "../../_support/backends.ts";

const COLUMNS = [
  { name: "SampleId", type: "Text" },
  { name: "Count", type: "Integer" },
  { name: "Big", type: "BigInteger" },
  { name: "Dose", type: "Decimal" },
  { name: "Ratio", type: "Double" },
  { name: "Ok", type: "Boolean" },
  { name: "Taken", type: "Date" },
  { name: "Seen", type: "DateTime" },
  { name: "Logged", type: "Timestamp" },
  { name: "Tag", type: "UUID" },
  { name: "Meta", type: "JSON" },
];

async function samples(t: TestContext) {
  await createContainer(t.svc, t.admin, { parentPath: "/home", name: "assays" });
  return await createList(t.svc, t.admin, "/home/assays", {
    name: "Samples",
    description: "Plate samples",
    key: "SampleId",
    columns: COLUMNS,
  });
}

async function rowCount(t: TestContext, def: Awaited<ReturnType<typeof samples>>) {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${
    sql.table(def.qualifiedTable)
  }`.execute(t.svc.database.root);
  return rows[0].n;
}

function rejectsWith(status: number, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof LabgateError, String(error));
    assert.equal(error.status, status);
    assert.match(error.message, message);
    return true;
  };
}

backendTest(
  "createList() makes a real table with typed columns in the folder's schema",
  async (t) => {
    const def = await samples(t);
    assert.equal(def.qualifiedTable, `${folderSchema(def.container.id)}.samples`);
    const { rows } = await sql<{ column_name: string; data_type: string }>`
    select column_name, data_type from information_schema.columns
    where table_schema = ${folderSchema(def.container.id)} and table_name = 'samples'
    order by ordinal_position`.execute(t.svc.database.root);
    assert.deepEqual(rows.map((r) => `${r.column_name}:${r.data_type}`), [
      "sampleid:text",
      "count:integer",
      "big:bigint",
      "dose:numeric",
      "ratio:double precision",
      "ok:boolean",
      "taken:date",
      "seen:timestamp without time zone",
      "logged:timestamp with time zone",
      "tag:uuid",
      "meta:jsonb",
    ]);
    await assert.rejects(
      () =>
        createList(t.svc, t.admin, "/home/assays", {
          name: "samples",
          key: "a",
          columns: [{ name: "a", type: "Text" }],
        }),
      rejectsWith(409, /already exists/),
    );
    await assert.rejects(
      () =>
        createList(t.svc, t.admin, "/home/assays", {
          name: "select",
          key: "a",
          columns: [{ name: "a", type: "Text" }],
        }),
      rejectsWith(400, /reserved SQL word/),
    );
    // The SQL door would have to print its row type as lg_c<n>.date.
    for (const name of ["date", "Path", "int4"]) {
      await assert.rejects(
        () =>
          createList(t.svc, t.admin, "/home/assays", {
            name,
            key: "a",
            columns: [{ name: "a", type: "Text" }],
          }),
        rejectsWith(400, /name of a built-in SQL type/),
      );
    }
    await assert.rejects(
      () =>
        createList(t.svc, t.admin, "/home/assays", {
          name: "x",
          key: "a",
          columns: [{ name: "a", type: "Money" }],
        }),
      rejectsWith(400, /unknown type "Money"/),
    );
    await assert.rejects(
      () =>
        createList(t.svc, t.admin, "/home/assays", {
          name: "y",
          key: "d",
          columns: [{ name: "d", type: "Date" }],
        }),
      rejectsWith(400, /cannot be a key/),
    );
  },
);

backendTest("insertRows() stores every type and returns the rows as stored", async (t) => {
  const def = await samples(t);
  const [row] = await insertRows(t.svc, t.admin, def, [{
    sampleid: "S1",
    Count: "3",
    Big: "9007199254740993",
    Dose: "1.250",
    Ratio: 0.5,
    Ok: "yes",
    Taken: "2024-02-29",
    Seen: "2024-02-29 08:30:00",
    Logged: "2024-02-29 08:30:00+02:00",
    Tag: "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    Meta: { wells: [1, 2] },
  }]);
  assert.deepEqual(row, {
    SampleId: "S1",
    Count: 3,
    Big: "9007199254740993",
    Dose: "1.250",
    Ratio: 0.5,
    Ok: true,
    Taken: "2024-02-29",
    Seen: "2024-02-29T08:30:00",
    Logged: "2024-02-29T06:30:00Z",
    Tag: "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    Meta: { wells: [1, 2] },
  });
  const { rows, total } = await selectRows(t.svc, t.admin, def, {
    filters: [{ column: "Dose", op: "gt", value: "1" }],
  });
  assert.equal(total, 1);
  assert.deepEqual(rows[0], row);
});

backendTest(
  "selectRows() totals follow every write at once, and a write on another instance",
  async (t) => {
    const def = await samples(t);
    const total = async (filters: Filter[] = []) =>
      (await selectRows(t.svc, t.admin, def, { filters, limit: 1 })).total;
    const big: Filter[] = [{ column: "Count", op: "gt", value: "5" }];
    await insertRows(t.svc, t.admin, def, [{ SampleId: "A", Count: 1 }, {
      SampleId: "B",
      Count: 9,
    }]);
    assert.deepEqual([await total(), await total(big)], [2, 1]);
    await insertRows(t.svc, t.admin, def, [{ SampleId: "C", Count: 7 }]);
    assert.deepEqual([await total(), await total(big)], [3, 2]);
    await updateRows(t.svc, t.admin, def, [{ SampleId: "C", Count: 2 }]);
    assert.deepEqual([await total(), await total(big)], [3, 1]);
    await deleteRows(t.svc, t.admin, def, ["A"]);
    assert.deepEqual([await total(), await total(big)], [2, 1]);
    await importRows(t.svc, t.admin, def, { text: "SampleId,Count\nD,8\n" });
    assert.deepEqual([await total(), await total(big)], [3, 2]);
    // A row written elsewhere: the total kept for this instance holds until the other
    // instance's announcement (here published by hand) arrives.
    const physical = (name: string) =>
      sql.ref(def.columns.find((c) => c.name === name)!.column_name);
    await sql`insert into ${sql.table(def.qualifiedTable)} (${physical("SampleId")}, ${
      physical("Count")
    }) values ('E', 6)`.execute(t.svc.database.root);
    assert.equal(await total(big), 2);
    await t.svc.invalidate.publish({ kind: "rows", list: def.list.id });
    assert.deepEqual([await total(), await total(big)], [4, 3]);
  },
);

backendTest("selectRows() sorts by the column's values, not their text", async (t) => {
  const def = await samples(t);
  await insertRows(t.svc, t.admin, def, [
    { SampleId: "S1", Count: 10, Ratio: 0.5 },
    { SampleId: "S2", Count: 9, Ratio: 10 },
    { SampleId: "S3", Count: 100, Ratio: 9 },
  ]);
  const order = async (column: string) =>
    (await selectRows(t.svc, t.admin, def, { sort: [{ column }] })).rows.map((r) => r.SampleId);
  assert.deepEqual(await order("Count"), ["S2", "S1", "S3"]);
  assert.deepEqual(await order("Ratio"), ["S1", "S3", "S2"]);
});

backendTest(
  "insertRows() reports every bad value by row and column and stores nothing",
  async (t) => {
    const def = await samples(t);
    await assert.rejects(
      () =>
        insertRows(t.svc, t.admin, def, [
          { SampleId: "S1", Count: "1" },
          { SampleId: "S2", Count: "two", Taken: "2023-02-30" },
          { Count: "3", Nope: "x" },
        ]),
      (error: unknown) => {
        assert.ok(error instanceof LabgateError);
        assert.equal(error.status, 400);
        assert.match(error.message, /^Insert failed, nothing was changed: Row 2, column Count/);
        const { errors } = error.details as { errors: { row: number; column?: string }[] };
        assert.deepEqual(errors.map((e) => `${e.row}:${e.column}`), [
          "2:Count",
          "2:Taken",
          "3:Nope",
          "3:SampleId",
        ]);
        return true;
      },
    );
    assert.equal(await rowCount(t, def), 0);
  },
);

backendTest("importRows() loads every row of a valid CSV or TSV file", async (t) => {
  const def = await samples(t);
  const csv = 'SampleId,Count,Ok,Meta\nS1,1,true,"{""a"": 1}"\n"S,2",2,no,\n';
  assert.deepEqual(await importRows(t.svc, t.admin, def, { text: csv }), { inserted: 2 });
  const tsv = "SampleId\tCount\r\nS3\t3\r\nS4\t\r\n";
  assert.deepEqual(await importRows(t.svc, t.admin, def, { text: tsv }), { inserted: 2 });
  const { rows } = await selectRows(t.svc, t.admin, def, {
    columns: ["SampleId", "Count", "Meta"],
  });
  assert.deepEqual(rows, [
    { SampleId: "S,2", Count: 2, Meta: null },
    { SampleId: "S1", Count: 1, Meta: { a: 1 } },
    { SampleId: "S3", Count: 3, Meta: null },
    { SampleId: "S4", Count: null, Meta: null },
  ]);
});

backendTest("importRows() that fails anywhere changes nothing", async (t) => {
  const def = await samples(t);
  await insertRows(t.svc, t.admin, def, [{ SampleId: "S1" }]);
  const bad = [
    [
      "bad value on the last row",
      "SampleId,Count\nA,1\nB,2\nC,x\n",
      /Row 3, column Count: "x" is not a whole number/,
    ],
    [
      "duplicate key inside the file",
      "SampleId\nA\nB\nA\n",
      /Row 3, column SampleId: duplicate key A \(also on row 1\)/,
    ],
    ["key already in the list", "SampleId\nA\nS1\n", /Key \(SampleId\)=\(S1\) already exists/],
    ["unknown column", "SampleId,Colour\nA,red\n", /unknown column "Colour"/],
    ["ragged CSV", 'SampleId,Count\nA,1\n"B,2\n', /not valid CSV/],
    ["header only", "SampleId,Count\n", /header row and at least one data row/],
  ] as const;
  for (const [what, text, message] of bad) {
    await assert.rejects(
      () => importRows(t.svc, t.admin, def, { text }),
      rejectsWith(400, message),
      what,
    );
  }
  assert.equal(await rowCount(t, def), 1);
});

backendTest("updateRows() and deleteRows() need every key to exist", async (t) => {
  const def = await samples(t);
  await insertRows(t.svc, t.admin, def, [{ SampleId: "A", Count: 1 }, { SampleId: "B", Count: 2 }]);
  const updated = await updateRows(t.svc, t.admin, def, [{ SampleId: "A", Count: 10 }]);
  assert.equal(updated[0].Count, 10);
  await assert.rejects(
    () =>
      updateRows(t.svc, t.admin, def, [{ SampleId: "B", Count: 20 }, { SampleId: "Z", Count: 1 }]),
    rejectsWith(400, /Row 2, column SampleId: no row has SampleId = Z/),
  );
  assert.equal(
    (await selectRows(t.svc, t.admin, def, {
      filters: [{ column: "SampleId", op: "eq", value: "B" }],
    })).rows[0].Count,
    2,
  );
  await assert.rejects(
    () => deleteRows(t.svc, t.admin, def, ["A", "Z"]),
    rejectsWith(404, /no row has SampleId = Z/),
  );
  assert.equal(await rowCount(t, def), 2);
  assert.equal((await deleteRows(t.svc, t.admin, def, ["A"])).length, 1);
  assert.equal(await rowCount(t, def), 1);
});

backendTest("row operations enforce the folder's permission bits", async (t) => {
  const def = await samples(t);
  const reader = await createUser(t.svc, t.admin, { email: "reader@example.org" });
  const author = await createUser(t.svc, t.admin, { email: "author@example.org" });
  await createUser(t.svc, t.admin, { email: "outsider@example.org" });
  await setPolicy(t.svc, t.admin, "/home/assays", {
    inherit: false,
    assignments: [{ principalId: reader.id, role: "reader" }, {
      principalId: author.id,
      role: "author",
    }],
  });
  const asReader = await actorOf(t.svc, "reader@example.org");
  const asAuthor = await actorOf(t.svc, "author@example.org");
  const asOutsider = await actorOf(t.svc, "outsider@example.org");
  await assert.rejects(
    () => insertRows(t.svc, asReader, def, [{ SampleId: "R" }]),
    rejectsWith(403, /permission/),
  );
  await insertRows(t.svc, asAuthor, def, [{ SampleId: "A" }]);
  await assert.rejects(
    () => deleteRows(t.svc, asAuthor, def, ["A"]),
    rejectsWith(403, /permission/),
  );
  assert.equal((await selectRows(t.svc, asReader, def)).total, 1);
  await assert.rejects(
    () => getList(t.svc, asOutsider, "/home/assays", "samples"),
    rejectsWith(404, /does not exist or you cannot read it/),
  );
  await assert.rejects(
    () => getList(t.svc, asOutsider, "/home/nothing", "samples"),
    rejectsWith(404, /does not exist or you cannot read it/),
  );
  await assert.rejects(
    () => deleteList(t.svc, asAuthor, "/home/assays", "samples"),
    rejectsWith(403, /permission/),
  );
  await deleteList(t.svc, t.admin, "/home/assays", "samples");
  await assert.rejects(() => rowCount(t, def));
});
