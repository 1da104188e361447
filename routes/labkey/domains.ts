/** List designs as LabKey domains: createDomain and getDomain. */
import { createList, type ListDefinition } from "../../src/data/lists.ts";
import { type ColumnPhiLevel } from "../../src/security/phi.ts";
import { badRequest } from "../../src/errors.ts";
import { rangeUri, typeFromRangeUri } from "../../src/doors/labkey/responses.ts";
import { type Action, listOf, requirePost, requireSignedIn, SCHEMA } from "./call.ts";

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

export const domainActions: Record<string, Action> = {
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
};
