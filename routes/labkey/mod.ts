/**
 * The query API shaped like LabKey's HTTP API, so existing clients (the
 * Python `labkey` package, Rlabkey, LabKey's JavaScript API) work unchanged.
 * Both URL styles are answered: `/<container>/<controller>-<action>.api` and
 * `/<controller>/<container>/<action>.api` (`.view` too), GET or POST with
 * query, form or JSON parameters. Errors come back as LabKey's JSON
 * `{exception, exceptionClass, success: false}`.
 */
import { Hono } from "hono";
import type { Actor } from "../../src/core/actor.ts";
import { auditActor } from "../../src/core/actor.ts";
import { createContainer, requireContainer, visibleContainers } from "../../src/data/containers.ts";
import { createList, getList, type ListDefinition, listLists } from "../../src/data/lists.ts";
import { folderSchema } from "../../src/data/physical.ts";
import {
  deleteRows,
  findColumn,
  insertRows,
  type Row,
  updateRows,
  visibleColumnsOf,
} from "../../src/data/rows.ts";
import { type ColumnPhiLevel, phiLevelInForce, sqlTableRules } from "../../src/security/phi.ts";
import { getUser } from "../../src/data/users.ts";
import type { ColumnTypeName } from "../../src/data/column_types.ts";
import type { Container } from "../../src/db/schema.ts";
import { badRequest, LabgateError, notFound, unauthorized } from "../../src/errors.ts";
import { containerFilterOf, selectAcrossFolders } from "../../src/doors/labkey/container_filter.ts";
import { runReadOnly, type SqlScope } from "../../src/doors/labkey/execute_sql.ts";
import {
  apiVersion,
  LabKeyParams,
  type LabKeyRoute,
  parseLabKeyPath,
  rowQueryFromParams,
} from "../../src/doors/labkey/request.ts";
import {
  errorResponse,
  fieldMetadata,
  labkeyRow,
  rangeUri,
  type ResultField,
  rowsResponse,
  typeFromRangeUri,
} from "../../src/doors/labkey/responses.ts";
import { hasPermission, Permission, permissionNames } from "../../src/security/permissions.ts";
import type { Services } from "../../src/services.ts";
import type { AppContext, Env } from "../http/context.ts";

/** What one call knows: the parsed request and who makes it. */
interface Call {
  c: AppContext;
  svc: Services;
  /** Null only for actions that answer anonymous callers (whoami). */
  actor: Actor | null;
  params: LabKeyParams;
  containerPath: string;
}

interface Answer {
  body: unknown;
  /** Audit detail (schema.query or SQL) and row count. */
  detail?: string;
  rows?: number;
  containerPath?: string;
}

type Action = (call: Call) => Promise<Answer>;

const SCHEMA = "lists";
const PERMISSION_CLASSES: Record<string, string> = {
  READ: "org.labkey.api.security.permissions.ReadPermission",
  INSERT: "org.labkey.api.security.permissions.InsertPermission",
  UPDATE: "org.labkey.api.security.permissions.UpdatePermission",
  DELETE: "org.labkey.api.security.permissions.DeletePermission",
  ADMIN: "org.labkey.api.security.permissions.AdminPermission",
};

function requireSignedIn(call: Call): Actor {
  if (!call.actor) throw unauthorized("Sign in first: send an API key or a session cookie");
  return call.actor;
}

function requirePost(call: Call): void {
  if (call.c.req.method !== "POST") throw badRequest("This action must be called with POST");
}

function schemaName(params: LabKeyParams): string {
  const name = params.first("schemaName", "query.schemaName");
  if (!name) throw badRequest("Missing parameter schemaName");
  if (name.toLowerCase() !== SCHEMA) {
    throw notFound(`Schema ${name} does not exist: this server has schema ${SCHEMA}`);
  }
  return SCHEMA;
}

async function listOf(call: Call): Promise<ListDefinition> {
  schemaName(call.params);
  const queryName = call.params.first("queryName", "query.queryName");
  if (!queryName) throw badRequest("Missing parameter queryName");
  return await getList(call.svc, requireSignedIn(call), call.containerPath, queryName);
}

/** Fields of `columns` (by default all of `def`'s: callers showing them pass the visible ones). */
function listFields(def: ListDefinition, columns = def.columns): ResultField[] {
  return columns.map((c) => {
    const isKey = c.column_name === def.list.key_column;
    return {
      name: c.name,
      type: c.type,
      isKey,
      autoIncrement: isKey && def.list.key_auto,
      required: c.required,
      description: c.description,
    };
  });
}

function keyName(def: ListDefinition): string {
  return def.columns.find((c) => c.column_name === def.list.key_column)!.name;
}

function rowsArray(call: Call): Record<string, unknown>[] {
  const rows = call.params.getAll("rows");
  if (!rows.length) throw badRequest("Send the rows as a JSON body: {schemaName, queryName, rows}");
  return rows as Record<string, unknown>[];
}

function folderJson(container: Container, bits: number, children?: unknown[]) {
  const depth = container.path === "/" ? 0 : container.path.split("/").length - 1;
  return {
    id: String(container.id),
    name: container.name,
    title: container.name,
    path: container.path,
    parentPath: container.path === "/"
      ? null
      : container.path.slice(0, container.path.lastIndexOf("/")) || "/",
    parentId: container.parent_id === null ? null : String(container.parent_id),
    description: container.description,
    type: depth === 1 ? "project" : "folder",
    isProject: depth === 1,
    isWorkbook: false,
    isContainerTab: false,
    sortOrder: 0,
    userPermissions: bits,
    effectivePermissions: permissionNames(bits).map((n) => PERMISSION_CLASSES[n]),
    ...(children ? { children } : {}),
  };
}

/** LabKey's names for the PHI levels in a domain's fields. */
const LABKEY_PHI: Record<ColumnPhiLevel, string> = {
  not_phi: "NotPHI",
  limited: "Limited",
  full: "PHI",
  restricted: "Restricted",
};

function domainJson(def: ListDefinition) {
  return {
    domainId: def.list.id,
    name: def.list.name,
    description: def.list.description,
    domainURI: `urn:lsid:labgate:List.Folder-${def.container.id}:${def.list.name}`,
    schemaName: SCHEMA,
    queryName: def.list.name,
    fields: def.columns.map((c) => ({
      name: c.name,
      rangeURI: rangeUri(c.type),
      required: c.required,
      description: c.description,
      isPrimaryKey: c.column_name === def.list.key_column,
      PHI: LABKEY_PHI[c.phi],
    })),
  };
}

function writeAnswer(def: ListDefinition, command: string, rows: Row[]): Answer {
  return {
    body: {
      schemaName: SCHEMA,
      queryName: def.list.name,
      containerPath: def.container.path,
      command,
      rowsAffected: rows.length,
      rows: rows.map((row) => labkeyRow(listFields(def), row)),
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
  const result = await selectAcrossFolders(
    call.svc,
    requireSignedIn(call),
    def,
    filter,
    rowQueryFromParams(call.params),
  );
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

const ACTIONS: Record<string, Action> = {
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
    const columns = await call.svc.db.selectFrom("lists as l")
      .leftJoin("list_columns as c", "c.list_id", "l.id")
      .select(["l.table_name", "c.column_name", "c.name", "c.type", "c.phi"])
      .where("l.container_id", "=", container.id).orderBy("l.id").orderBy("c.position").execute();
    const rules = sqlTableRules(
      columns.flatMap((c) =>
        c.name ? [{ table: c.table_name, column: c.column_name!, name: c.name, phi: c.phi! }] : []
      ),
      phiLevelInForce(actor),
    );
    const withheld = new Map(rules.map((rule) => [rule.table, rule]));
    const scope: SqlScope = { lists: new Map(), columns: new Map(), withheld };
    for (const c of columns) {
      scope.lists.set(c.table_name, `${folderSchema(container.id)}.${c.table_name}`);
      if (c.column_name && !scope.columns.has(c.column_name)) {
        scope.columns.set(c.column_name, { name: c.name!, type: c.type as ColumnTypeName });
      }
    }
    const result = await runReadOnly(call.svc, container, text, scope, {
      maxRows: call.params.number("maxRows", "query.maxRows", "limit"),
      offset: call.params.number("offset", "query.offset"),
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

  "query-insertRows": async (call) => {
    requirePost(call);
    const actor = requireSignedIn(call);
    const def = await listOf(call);
    return writeAnswer(
      def,
      "insert",
      await insertRows(call.svc, actor, def, rowsArray(call)),
    );
  },

  "query-updateRows": async (call) => {
    requirePost(call);
    const actor = requireSignedIn(call);
    const def = await listOf(call);
    return writeAnswer(
      def,
      "update",
      await updateRows(call.svc, actor, def, rowsArray(call)),
    );
  },

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

  "login-whoami": ({ actor }) =>
    Promise.resolve({
      body: actor
        ? {
          id: actor.userId,
          displayName: actor.displayName,
          email: actor.email,
          CSRF: actor.session?.csrfToken ?? "",
          impersonated: actor.impersonatorId !== null,
          success: true,
        }
        : {
          id: 0,
          displayName: "guest",
          email: "guest",
          CSRF: "",
          impersonated: false,
          success: true,
        },
    }),

  "project-getContainers": async (call) => {
    const actor = requireSignedIn(call);
    const { container, bits } = await requireContainer(call.svc, actor, {
      path: call.containerPath,
    });
    const withChildren = call.params.string("includeSubfolders") === "true";
    const depth = call.params.number("depth") ?? Infinity;
    const visible = withChildren ? await visibleContainers(call.svc, actor) : [];
    const tree = (parent: Container, parentBits: number, level: number): unknown =>
      folderJson(
        parent,
        parentBits,
        level < depth
          ? visible.filter((v) => v.parent_id === parent.id).map((v) => tree(v, v.bits, level + 1))
          : [],
      );
    return { body: tree(container, bits, 0) };
  },

  "core-createContainer": async (call) => {
    requirePost(call);
    const actor = requireSignedIn(call);
    const name = call.params.string("name");
    if (!name) throw badRequest("Missing parameter name");
    const created = await createContainer(call.svc, actor, {
      parentPath: call.containerPath,
      name,
      description: call.params.string("description"),
    });
    const bits = await call.svc.permissions.resolve(actor.userId, created.id);
    return { body: folderJson(created, bits), detail: created.path, containerPath: created.path };
  },

  "property-createDomain": async (call) => {
    requirePost(call);
    const actor = requireSignedIn(call);
    const kind = call.params.string("kind") ?? "";
    if (kind !== "IntList" && kind !== "VarList") {
      throw badRequest(`Unsupported domain kind "${kind}": use IntList or VarList`);
    }
    const design = call.params.get("domainDesign") as {
      name?: string;
      description?: string;
      fields?: { name: string; rangeURI?: string; required?: boolean; description?: string }[];
    } | undefined;
    if (!design?.name) throw badRequest("Missing domainDesign.name");
    const options = (call.params.get("options") ?? {}) as { keyName?: string; keyType?: string };
    const key = options.keyName ?? "Key";
    const fields = (design.fields ?? []).map((f) => ({
      name: f.name,
      type: typeFromRangeUri(f.rangeURI ?? "string"),
      required: f.required,
      description: f.description,
    }));
    const given = fields.some((f) => f.name.toLowerCase() === key.toLowerCase());
    const autoKey = kind === "IntList" &&
      (!given || options.keyType === "AutoIncrementInteger");
    const columns = autoKey
      ? fields.filter((f) => f.name.toLowerCase() !== key.toLowerCase())
      : given
      ? fields
      : [{ name: key, type: kind === "IntList" ? "Integer" : "Text" } as const, ...fields];
    const def = await createList(call.svc, actor, call.containerPath, {
      name: design.name,
      description: design.description,
      key,
      autoKey,
      columns,
    });
    return { body: domainJson(def), detail: `${SCHEMA}.${def.list.name}` };
  },

  "property-getDomain": async (call) => {
    const def = await listOf(call);
    return { body: domainJson(def), detail: `${SCHEMA}.${def.list.name}` };
  },

  "user-getUsers": async (call) => {
    const actor = requireSignedIn(call);
    const { container } = await requireContainer(call.svc, actor, { path: call.containerPath });
    const prefix = call.params.string("name")?.toLowerCase() ?? "";
    const users = await call.svc.db.selectFrom("users").select("id").where("active", "=", true)
      .orderBy("email").execute();
    const listed = [];
    for (const { id } of users) {
      const bits = await call.svc.permissions.resolve(id, container.id);
      const user = hasPermission(bits, Permission.READ) ? await getUser(call.svc, id) : undefined;
      if (
        user &&
        (user.email.toLowerCase().startsWith(prefix) ||
          user.display_name.toLowerCase().startsWith(prefix))
      ) {
        listed.push({ userId: user.id, displayName: user.display_name, email: user.email });
      }
    }
    return { body: { container: container.path, users: listed }, rows: listed.length };
  },
};

/** The LabKey action a path names, if this door answers it. */
export function labkeyAction(path: string): Action | null {
  return actionOf(parseLabKeyPath(path));
}

/** LabKey's action names are case-insensitive (`whoAmI.api`, `whoami.api`). */
const ACTIONS_BY_NAME = new Map(
  Object.entries(ACTIONS).map(([name, action]) => [name.toLowerCase(), action]),
);

function actionOf(route: LabKeyRoute | null): Action | null {
  return route ? ACTIONS_BY_NAME.get(route.action.toLowerCase()) ?? null : null;
}

/** The form, JSON or query-string parameters of a request, merged. */
async function readParams(c: AppContext): Promise<LabKeyParams> {
  const sources: [string, unknown][] = [...new URL(c.req.url).searchParams];
  if (c.req.method === "POST") {
    const type = c.req.header("content-type") ?? "";
    if (type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/")) {
      sources.push(...Object.entries(await c.req.parseBody({ all: true })));
    } else {
      const text = await c.req.text();
      if (text.trim()) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw badRequest("The request body is not valid JSON");
        }
        if (!body || typeof body !== "object" || Array.isArray(body)) {
          throw badRequest("The request body must be a JSON object");
        }
        sources.push(...Object.entries(body));
      }
    }
  }
  return new LabKeyParams(sources);
}

function outcomeOf(status: number) {
  if (status === 401 || status === 403 || status === 404) return "denied" as const;
  return status < 500 ? "failed" as const : "error" as const;
}

export function labkeyApp(): Hono<Env> {
  const app = new Hono<Env>();

  app.on(["GET", "POST"], "*", async (c, next) => {
    const route = parseLabKeyPath(c.req.path);
    if (!route) return await next();
    const action = actionOf(route);
    if (!action) {
      // LabKey's clients read a JSON error from any action URL; an HTML page breaks them.
      const { status, body } = errorResponse(
        notFound(`This server has no LabKey action ${route.action} (controller-action.api)`),
      );
      return c.json(body, status as 404);
    }
    const svc = c.get("svc");
    const resolved = c.get("actor");
    const actor = resolved && resolved.door === "web"
      ? { ...resolved, door: "api" as const }
      : resolved;
    const started = performance.now();
    const audit = (
      answer: Partial<Answer>,
      outcome: "ok" | "denied" | "failed" | "error",
      message?: string,
    ) => {
      if (!actor) return;
      svc.audit.record({
        ...auditActor(actor),
        event: route.action.replace("-", "."),
        outcome,
        containerPath: answer.containerPath ?? route.containerPath,
        detail: answer.detail ?? null,
        rows: answer.rows ?? null,
        durationMs: Math.round(performance.now() - started),
        message: message ?? null,
      });
    };
    if (!actor && route.action.toLowerCase() !== "login-whoami") {
      throw unauthorized("Sign in first: send an API key or a session cookie");
    }
    let params: LabKeyParams | undefined;
    try {
      params = await readParams(c);
      const answer = await action({ c, svc, actor, params, containerPath: route.containerPath });
      audit(answer, "ok");
      return c.json(answer.body as Record<string, unknown>);
    } catch (error) {
      const { status } = errorResponse(error);
      const detail = params?.string("sql") ??
        [
          params?.first("schemaName", "query.schemaName"),
          params?.first("queryName", "query.queryName"),
        ]
          .filter(Boolean).join(".");
      audit({ detail: detail || undefined }, outcomeOf(status), (error as Error).message);
      throw error;
    }
  });

  app.onError((error, c) => {
    const { status, body } = errorResponse(error);
    if (status === 500 && !(error instanceof LabgateError)) {
      console.error(JSON.stringify({
        level: "error",
        path: c.req.path,
        error: String((error as Error)?.stack ?? error),
      }));
    }
    return c.json(body, status as 400);
  });
  return app;
}
