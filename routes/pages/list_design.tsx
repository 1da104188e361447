/**
 * The list page's design card for folder admins: add, rename or drop a
 * column, change a description or a column's PHI level. Every change shows its preview first (what
 * it does to the rows, values lost) and is applied only from the preview's
 * own Apply button, which carries the same fields.
 */
import type { Actor } from "../../src/core/actor.ts";
import { COLUMN_TYPES } from "../../src/data/column_types.ts";
import { type DesignChange, type DesignPreview } from "../../src/data/list_design.ts";
import type { ListDefinition } from "../../src/data/lists.ts";
import { badRequest } from "../../src/errors.ts";
import { PHI_LEVEL_LABELS } from "../../src/security/phi.ts";
import { CsrfField, PhiLevelSelect } from "../ui/layout.tsx";
import { field } from "../ui/render.tsx";

const CHANGE_FIELDS = ["kind", "column", "to", "type", "required", "description", "phi"];

/** The change a design form describes. */
export function designChangeOf(body: Record<string, unknown>): DesignChange {
  const kind = field(body, "kind");
  const column = field(body, "column");
  switch (kind) {
    case "add":
      return {
        kind,
        column: {
          name: field(body, "to"),
          type: field(body, "type"),
          required: field(body, "required") === "on",
          description: field(body, "description"),
          phi: field(body, "phi"),
        },
      };
    case "rename":
      return { kind, column, to: field(body, "to") };
    case "drop":
      return { kind, column };
    case "describe":
      return { kind, column: column || undefined, description: field(body, "description") };
    case "phi":
      return { kind, column, phi: field(body, "phi") };
    default:
      throw badRequest("Choose what to change: add, rename, drop, describe or phi");
  }
}

/** The preview of a change, with the button that applies exactly it. */
export function DesignPreviewCard(
  props: { actor: Actor; preview: DesignPreview; body: Record<string, unknown> },
) {
  return (
    <div class="card" id="design-preview">
      <h2>Check this change</h2>
      <ul>
        {props.preview.effects.map((effect) => <li>{effect}</li>)}
      </ul>
      <form method="post">
        <CsrfField actor={props.actor} />
        <input type="hidden" name="_action" value="design-apply" />
        {CHANGE_FIELDS.map((name) => (
          <input type="hidden" name={name} value={field(props.body, name)} />
        ))}
        <button type="submit" class={props.preview.valuesLost ? "danger" : undefined}>
          Apply the change
        </button>{" "}
        <a href="?">Cancel</a>
      </form>
    </div>
  );
}

/** The forms that start a change (each asks for a preview). */
export function DesignCard(props: { actor: Actor; def: ListDefinition }) {
  const { actor, def } = props;
  const columns = def.columns.map((c) => <option value={c.name}>{c.name}</option>);
  const start = (kind: string) => (
    <>
      <CsrfField actor={actor} />
      <input type="hidden" name="_action" value="design-preview" />
      <input type="hidden" name="kind" value={kind} />
    </>
  );
  return (
    <div class="card" id="design">
      <h2>Change the design</h2>
      <p class="muted">Every change is shown first and applied only when you confirm it.</p>
      <form method="post" class="row" aria-label="Add a column">
        {start("add")}
        <div>
          <label for="add-name">New column</label>
          <input id="add-name" name="to" type="text" required />
        </div>
        <div>
          <label for="add-type">Type</label>
          <select id="add-type" name="type">
            {Object.keys(COLUMN_TYPES).map((t) => <option value={t}>{t}</option>)}
          </select>
        </div>
        <div>
          <label for="add-phi">PHI level</label>
          <PhiLevelSelect id="add-phi" name="phi" value="not_phi" />
        </div>
        <div>
          <label>
            <input type="checkbox" name="required" /> Required
          </label>
        </div>
        <div>
          <button type="submit">Add…</button>
        </div>
      </form>
      <form method="post" class="row" aria-label="Rename a column">
        {start("rename")}
        <div>
          <label for="rename-column">Rename column</label>
          <select id="rename-column" name="column">{columns}</select>
        </div>
        <div>
          <label for="rename-to">to</label>
          <input id="rename-to" name="to" type="text" required />
        </div>
        <div>
          <button type="submit">Rename…</button>
        </div>
      </form>
      <form method="post" class="row" aria-label="Drop a column">
        {start("drop")}
        <div>
          <label for="drop-column">Drop column</label>
          <select id="drop-column" name="column">{columns}</select>
        </div>
        <div>
          <button type="submit" class="danger">Drop…</button>
        </div>
      </form>
      <form method="post" class="row" aria-label="Change a description">
        {start("describe")}
        <div>
          <label for="describe-column">Description of</label>
          <select id="describe-column" name="column">
            <option value="">the list</option>
            {columns}
          </select>
        </div>
        <div>
          <label for="describe-text">Description</label>
          <input id="describe-text" name="description" type="text" maxlength={2000} />
        </div>
        <div>
          <button type="submit">Describe…</button>
        </div>
      </form>
      <form method="post" class="row" aria-label="Change a PHI level">
        {start("phi")}
        <div>
          <label for="phi-column">PHI level of</label>
          <select id="phi-column" name="column">
            {def.columns.map((c) => (
              <option value={c.name}>{c.name} (now {PHI_LEVEL_LABELS[c.phi]})</option>
            ))}
          </select>
        </div>
        <div>
          <label for="phi-level">to</label>
          <PhiLevelSelect id="phi-level" name="phi" value="not_phi" />
        </div>
        <div>
          <button type="submit">Set level…</button>
        </div>
      </form>
    </div>
  );
}
