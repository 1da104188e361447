/** The page frame every server-rendered page uses. */
import type { Child } from "hono/jsx";
import type { Actor } from "../../src/core/actor.ts";
import {
  COLUMN_PHI_LEVELS,
  DECLARED_PHI_LEVELS,
  PHI_LEVEL_LABELS,
} from "../../src/security/phi.ts";
import { CSRF_FIELD } from "../http/context.ts";

export interface PageProps {
  title: string;
  actor: Actor | null;
  siteAdmin?: boolean;
  notice?: string | null;
  error?: string | null;
  errors?: { row?: number; column?: string; message: string }[];
  children?: Child;
}

export function Layout(props: PageProps) {
  const { actor } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · labgate</title>
        <link rel="stylesheet" href="/static/style.css" />
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">labgate</a>
          {actor && (
            <nav>
              <a href="/folders">Folders</a>
              {props.siteAdmin && <a href="/admin/users">Users</a>}
              {props.siteAdmin && <a href="/admin/groups">Groups</a>}
              {props.siteAdmin && <a href="/admin/audit">Audit log</a>}
              {props.siteAdmin && <a href="/admin/site">Site settings</a>}
            </nav>
          )}
          {actor && (
            <div class="me">
              <span>{actor.email}</span>
              <a href="/account">Account</a>
              <a href="/account/external-tools">External tool access</a>
              <form class="inline" method="post" action="/logout">
                <CsrfField actor={actor} />
                <button class="secondary" type="submit">Sign out</button>
              </form>
            </div>
          )}
        </header>
        <main>
          {props.notice && <div class="notice" role="status">{props.notice}</div>}
          {props.error && (
            <div class="error" role="alert">
              {props.error}
              {props.errors && props.errors.length > 0 && (
                <ul>
                  {props.errors.map((e) => (
                    <li>
                      {e.row !== undefined ? `Row ${e.row}` : ""}
                      {e.column ? `, ${e.column}` : ""}
                      {e.row !== undefined || e.column ? ": " : ""}
                      {e.message}
                    </li>
                  ))}
                </ul>
              )}
            </div>
          )}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** The hidden field that carries the session's CSRF token in every form. */
export function CsrfField(props: { actor: Actor | null; token?: string }) {
  const token = props.token ?? props.actor?.session?.csrfToken ?? "";
  return <input type="hidden" name={CSRF_FIELD} value={token} />;
}

/** A PHI level chooser: a column's levels, or (`declared`) the levels a request can have. */
export function PhiLevelSelect(
  props: {
    id: string;
    name: string;
    value: string;
    declared?: boolean;
    label?: string;
    disabled?: boolean;
  },
) {
  const levels = props.declared ? DECLARED_PHI_LEVELS : COLUMN_PHI_LEVELS;
  return (
    <select id={props.id} name={props.name} aria-label={props.label} disabled={props.disabled}>
      {levels.map((level) => (
        <option value={level} selected={level === props.value}>{PHI_LEVEL_LABELS[level]}</option>
      ))}
    </select>
  );
}

/** Links from `/` down to `path`, each to its folder page. */
export function Breadcrumbs(props: { path: string; tail?: string }) {
  const parts = props.path.split("/").filter(Boolean);
  return (
    <div class="crumbs">
      <a href="/folders">Folders</a>
      {parts.map((part, i) => (
        <>
          {" / "}
          <a href={folderUrl("/" + parts.slice(0, i + 1).join("/"))}>{part}</a>
        </>
      ))}
      {props.tail && <>{" / "}{props.tail}</>}
    </div>
  );
}

/** `/home/assays` → `/folders/home/assays`. Folder names need no escaping. */
export function folderUrl(path: string, suffix = ""): string {
  return `/folders${path === "/" ? "" : path}${suffix}`;
}
