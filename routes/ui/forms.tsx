/**
 * The pieces the pages' forms and tables are made of: a labelled field
 * (with its error beside it), a checkbox, a row of fields, a form that
 * carries the CSRF token and its `_action`, a submit button, a table.
 */
import type { Child } from "hono/jsx";
import type { Actor } from "../../src/core/actor.ts";
import { CsrfField } from "./layout.tsx";

interface FieldProps {
  id: string;
  /** The form field's name; the id when absent. */
  name?: string;
  label: Child;
  /** `text` when absent. */
  type?: "text" | "number" | "email" | "password" | "search" | "date" | "file";
  value?: string | number | null;
  required?: boolean;
  min?: string | number;
  max?: string | number;
  pattern?: string;
  minlength?: number;
  placeholder?: string;
  autocomplete?: string;
  /** For a file: the kinds offered. */
  accept?: string;
  disabled?: boolean;
  /** Why the value was refused: the input is marked invalid and the reason shown under it. */
  error?: string | null;
}

/** A label and its input. */
export function Field(props: FieldProps) {
  const { label, name, type, value, error, ...attributes } = props;
  const errorId = error ? `${props.id}-error` : undefined;
  return (
    <>
      <label for={props.id}>{label}</label>
      <input
        {...attributes}
        name={name ?? props.id}
        type={type ?? "text"}
        value={value ?? undefined}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={errorId}
      />
      {error && <p class="field-error" id={errorId}>{error}</p>}
    </>
  );
}

/** A label and the control it names (a select, a textarea): `id` is the control's. */
export function Labelled(props: { id: string; label: Child; children?: Child }) {
  return (
    <>
      <label for={props.id}>{props.label}</label>
      {props.children}
    </>
  );
}

interface ChoiceProps {
  name: string;
  label: Child;
  checked?: boolean;
  required?: boolean;
  disabled?: boolean;
}

/** A checkbox or radio button with its label after it. */
function Choice(props: ChoiceProps & { type: "checkbox" | "radio"; value: string }) {
  const { label, ...attributes } = props;
  return (
    <label>
      <input {...attributes} /> {label}
    </label>
  );
}

/** A checkbox with its label after it; checked sends `value` ("on" when absent). */
export function Checkbox(props: ChoiceProps & { value?: string }) {
  return <Choice {...props} type="checkbox" value={props.value ?? "on"} />;
}

/** One radio button of the group `name`, with its label after it. */
export function Radio(props: ChoiceProps & { value: string }) {
  return <Choice {...props} type="radio" />;
}

/** Side by side (`.row`), each child in a cell of its own (an array of children shares one). */
export function FieldRow(props: { children?: Child }) {
  const children = Array.isArray(props.children) ? props.children : [props.children];
  return (
    <div class="row">
      {children.filter((child) => child !== null && child !== undefined && child !== false).map((
        child,
      ) => <div>{child}</div>)}
    </div>
  );
}

/** A POST form that carries the session's CSRF token and, when given, the `_action` it asks for. */
export function PostForm(
  props: {
    actor: Actor | null;
    /** The `_action` field. */
    do?: string;
    /** Where it posts; the page itself when absent. */
    to?: string;
    class?: string;
    children?: Child;
  },
) {
  return (
    <form method="post" action={props.to} class={props.class}>
      <CsrfField actor={props.actor} />
      {props.do && <input type="hidden" name="_action" value={props.do} />}
      {props.children}
    </form>
  );
}

/** The submit button at the end of a form, in a paragraph of its own. */
export function Submit(props: { kind?: "secondary" | "danger"; children?: Child }) {
  return (
    <p>
      <button type="submit" class={props.kind}>{props.children}</button>
    </p>
  );
}

/** A table with a heading row; `children` are its body's rows. */
export function Table(props: { head: Child[]; id?: string; class?: string; children?: Child }) {
  return (
    <table id={props.id} class={props.class}>
      <thead>
        <tr>
          {props.head.map((heading) => <th>{heading}</th>)}
        </tr>
      </thead>
      <tbody>{props.children}</tbody>
    </table>
  );
}
