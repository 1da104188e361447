/** The query controller: selectRows, executeSql, the row writes and the schema browser's questions. */
import { requireContainer } from "../../src/data/containers.ts";
import { getList, type ListDefinition, listLists } from "../../src/data/lists.ts";
import {
  deleteRows,
  findColumn,
  insertRows,
  type Row,
  updateRows,
  visibleColumnsOf,
} from "../../src/data/rows.ts";
import { badRequest } from "../../src/errors.ts";
import { containerFilterOf, selectAcrossFolders } from "../../src/doors/labkey/container_filter.ts";
import { runReadOnly, sqlScopeOf } from "../../src/doors/labkey/execute_sql.ts";
import { apiVersion, LabKeyParams, rowQueryFromParams } from "../../src/doors/labkey/request.ts";
import { fieldMetadata, labkeyRows, rowsResponse } from "../../src/doors/labkey/responses.ts";
import { statementTimeoutOf } from "../http/context.ts";
import {
  type Action,
  type Answer,
  keyName,
  listFields,
  listOf,
  requirePost,
  requireSignedIn,
  rowsArray,
  SCHEMA,
  schemaName,
} from "./call.ts";

function writeAnswer(def: ListDefinition, command: string, rows: Row[]): Answer {
  return {
    body: {
      schemaName: SCHEMA,
      queryName: def.list.name,
      containerPath: def.container.path,
      command,
      rowsAffected: rows.length,
      rows: labkeyRows(listFields(def), rows),
      errors: [],
    },
    detail: `${SCHEMA}.${def.list.name}`,
    rows: rows.length,
    containerPath: def.container.path,
  };
}

const selectRowsAction: Action = async (call) => {
  refuseViews(call.params);
  const def = await listOf(call);
  const filter = containerFilterOf(
    call.params.first("containerFilter", "query.containerFilterName", "containerFilterName"),
  );
  const actor = requireSignedIn(call);
  const result = await selectAcrossFolders(call.svc, actor, def, filter, {
    ...rowQueryFromParams(call.params),
    timeoutMs: await statementTimeoutOf(call.svc, actor),
  });
  const shown = new Set(result.columns.map((c) => c.column_name));
  return {
    body: rowsResponse({
      schemaName: SCHEMA,
      queryName: def.list.name,
      fields: listFields(def).filter((f) => shown.has(findColumn(def, f.name)!.column_name)),
      rows: result.rows,
      rowCount: result.total,
    }, apiVersion(call.params)),
    detail: `${SCHEMA}.${def.list.name}`,
    rows: result.rows.length,
    containerPath: def.container.path,
  };
};

/**
 * Saved views do not exist here: a `viewName` other than the default view is
 * refused rather than silently answered with the default one. (`ignoreFilter`
 * asks to drop the view's own filters, which the default view has none of:
 * it is answered as asked.)
 */
function refuseViews(params: LabKeyParams): void {
  const view = params.first("viewName", "query.viewName");
  if (view && view !== "~~DEFAULT~~") {
    throw badRequest(
      `viewName ${view} is not supported: this server has no saved views; choose columns with query.columns, filters with query.<column>~<op> and the order with query.sort`,
    );
  }
}

/** insertRows and updateRows: POST, the caller's rows written to the named list. */
function rowsWrite(
  command: string,
  write: typeof insertRows | typeof updateRows,
): Action {
  return async (call) => {
    requirePost(call);
    const actor = requireSignedIn(call);
    const def = await listOf(call);
    return writeAnswer(def, command, await write(call.svc, actor, def, rowsArray(call)));
  };
}

export const queryActions: Record<string, Action> = {
  "query-selectRows": selectRowsAction,

  "query-getQuery": selectRowsAction,

  "query-executeSql": async (call) => {
    const actor = requireSignedIn(call);
    schemaName(call.params);
    const text = call.params.string("sql");
    if (!text?.trim()) throw badRequest("Missing parameter sql");
    const filter = containerFilterOf(call.params.first("containerFilter", "containerFilterName"));
    if (filter !== "Current") {
      throw badRequest(
        `executeSql reads one folder's lists: containerFilter ${filter} is not supported here (selectRows takes it)`,
      );
    }
    const { container } = await requireContainer(call.svc, actor, { path: call.containerPath });
    const scope = await sqlScopeOf(call.svc, actor, container);
    const result = await runReadOnly(call.svc, container, text, scope, {
      maxRows: call.params.number("maxRows", "query.maxRows", "limit"),
      offset: call.params.number("offset", "query.offset"),
      timeoutMs: await statementTimeoutOf(call.svc, actor),
    });
    return {
      body: rowsResponse(
        { schemaName: SCHEMA, queryName: "sql", ...result },
        apiVersion(call.params),
      ),
      detail: text,
      rows: result.rows.length,
      containerPath: container.path,
    };
  },

  "query-insertRows": rowsWrite("insert", insertRows),
  "query-updateRows": rowsWrite("update", updateRows),

  "query-deleteRows": async (call) => {
    requirePost(call);
    const actor = requireSignedIn(call);
    const def = await listOf(call);
    const key = keyName(def);
    const keys = rowsArray(call).map((row, i) => {
      const name = Object.keys(row ?? {}).find((k) => k.toLowerCase() === key.toLowerCase());
      if (!name) throw badRequest(`Row ${i + 1} has no ${key}: deleteRows needs each row's key`);
      return row[name];
    });
    return writeAnswer(def, "delete", await deleteRows(call.svc, actor, def, keys));
  },

  "query-getSchemas": async (call) => {
    await requireContainer(call.svc, requireSignedIn(call), { path: call.containerPath });
    const body = apiVersion(call.params) >= 9.3
      ? {
        [SCHEMA]: {
          schemaName: SCHEMA,
          fullyQualifiedName: SCHEMA,
          description: "The folder's lists",
          schemas: {},
        },
      }
      : { schemas: [SCHEMA] };
    return { body };
  },

  "query-getQueries": async (call) => {
    const actor = requireSignedIn(call);
    schemaName(call.params);
    const { lists } = await listLists(call.svc, actor, call.containerPath);
    const withColumns = call.params.string("includeColumns") !== "false";
    const queries = [];
    for (const summary of lists) {
      const def = await getList(call.svc, actor, call.containerPath, summary.name);
      queries.push({
        name: def.list.name,
        title: def.list.name,
        description: def.list.description,
        isUserDefined: false,
        canEdit: false,
        isMetadataOverrideable: false,
        hidden: false,
        ...(withColumns
          ? { columns: listFields(def, visibleColumnsOf(def, actor)).map(fieldMetadata) }
          : {}),
      });
    }
    return { body: { schemaName: SCHEMA, queries } };
  },

  "query-getQueryDetails": async (call) => {
    const def = await listOf(call);
    const fields = listFields(def, visibleColumnsOf(def, call.actor)).map(fieldMetadata);
    return {
      body: {
        schemaName: SCHEMA,
        name: def.list.name,
        title: def.list.name,
        description: def.list.description,
        isUserDefined: false,
        canEdit: false,
        columns: fields,
        defaultView: { columns: fields.map((f) => ({ name: f.name, fieldKey: f.fieldKeyPath })) },
      },
    };
  },
};
