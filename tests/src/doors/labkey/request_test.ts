import assert from "node:assert/strict";
import {
  LabKeyParams,
  parseLabKeyPath,
  rowQueryFromParams,
  wafDecode,
} from "../../../../src/doors/labkey/request.ts";

Deno.test("parseLabKeyPath() reads both URL styles and leaves other doors alone", () => {
  assert.deepEqual(parseLabKeyPath("/home/assays/query-selectRows.api"), {
    containerPath: "/home/assays",
    action: "query-selectRows",
  });
  assert.deepEqual(parseLabKeyPath("/query/home/assays/selectRows.view"), {
    containerPath: "/home/assays",
    action: "query-selectRows",
  });
  assert.deepEqual(parseLabKeyPath("/login-whoami.api"), {
    containerPath: "/",
    action: "login-whoami",
  });
  assert.deepEqual(parseLabKeyPath("/project//home//getContainers.view"), {
    containerPath: "/home",
    action: "project-getContainers",
  });
  assert.equal(parseLabKeyPath("/login/createToken.view"), null);
  assert.equal(parseLabKeyPath("/login/home/verifyToken.view"), null);
  assert.equal(parseLabKeyPath("/api/lists/1/rows"), null);
  assert.equal(parseLabKeyPath("/folders/home"), null);
  assert.equal(parseLabKeyPath("/home/%E0%A4%A/query-selectRows.api"), null);
});

Deno.test("rowQueryFromParams() maps LabKey's query.* parameters", () => {
  const params = new LabKeyParams([
    ...new URLSearchParams(
      "query.columns=Name,Grams&query.Grams~gt=1&query.Name~in=a&query.Name~in=b;c" +
        "&query.sort=-Grams,Name&query.maxRows=-1&query.offset=5",
    ),
  ]);
  assert.deepEqual(rowQueryFromParams(params), {
    columns: ["Name", "Grams"],
    filters: [
      { column: "Grams", op: "gt", value: "1" },
      { column: "Name", op: "in", value: ["a", "b", "c"] },
    ],
    sort: [{ column: "Grams", descending: true }, { column: "Name" }],
    limit: 100_000,
    offset: 5,
    count: true,
  });
  const uncounted = new LabKeyParams([["includeTotalCount", "false"]]);
  assert.equal(rowQueryFromParams(uncounted).count, false);
  assert.throws(
    () => rowQueryFromParams(new LabKeyParams([["query.Name~like", "x"]])),
    /Unknown filter "like" on Name/,
  );
});

Deno.test("wafDecode() undoes Rlabkey's firewall encoding", () => {
  const sql = "select * from samples where Name = 'a+b'";
  const encoded = "/*{{base64/x-www-form-urlencoded/wafText}}*/" + btoa(encodeURIComponent(sql));
  assert.equal(wafDecode(encoded), sql);
  assert.equal(wafDecode("plain"), "plain");
  assert.equal(wafDecode(42), 42);
});
