/** Helpers shared by the page routes: render in the frame, redirect with a notice. */
import type { Child } from "hono/jsx";
import { LabgateError } from "../../src/errors.ts";
import type { AppContext } from "../http/context.ts";
import { Layout, type PageProps } from "./layout.tsx";

/** Renders `children` in the page frame with the nav the actor may see. */
export async function page(
  c: AppContext,
  props: Omit<PageProps, "actor" | "siteAdmin" | "notice"> & { notice?: string | null },
  status: 200 | 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 = 200,
): Promise<Response> {
  const actor = c.get("actor");
  const siteAdmin = actor ? await c.get("svc").permissions.isSiteAdmin(actor.userId) : false;
  const notice = props.notice ?? c.req.query("notice") ?? null;
  return c.html(
    <Layout {...props} actor={actor} siteAdmin={siteAdmin} notice={notice}>
      {props.children as Child}
    </Layout>,
    status,
  );
}

/** Redirects (303, so the browser GETs) with a one-line notice shown on arrival. */
export function redirectWith(c: AppContext, location: string, notice?: string): Response {
  if (!notice) return c.redirect(location, 303);
  const url = new URL(location, "http://x");
  url.searchParams.set("notice", notice);
  return c.redirect(url.pathname + url.search + url.hash, 303);
}

/** The error a form shows: its message and, for row errors, the list. */
export function formError(error: unknown): {
  error: string;
  errors?: { row?: number; column?: string; message: string }[];
  status: 400 | 401 | 403 | 404 | 409 | 413 | 429;
} {
  if (error instanceof LabgateError && error.status < 500) {
    const details = error.details as {
      errors?: { row?: number; column?: string; message: string }[];
    };
    return {
      error: error.message,
      errors: details?.errors,
      status: error.status as 400 | 401 | 403 | 404 | 409 | 413 | 429,
    };
  }
  throw error;
}

/** A string field of a parsed form body ("" when absent). */
export function field(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  return typeof value === "string" ? value : "";
}

/** Every string value of a field sent more than once (checkboxes, multiple selects). */
export function fieldValues(body: Record<string, unknown>, name: string): string[] {
  const value = body[name];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === "string");
}

/** Any origin will do: only whether `next` stays on it matters. */
const LOCAL_ORIGIN = "http://labgate.invalid";

/**
 * Only paths on this server are followed after login, so `next` cannot
 * redirect off-site. The URL parser decides, as the browser would (it drops
 * tabs and newlines, reads a backslash as `/`), and the answer is its serialization,
 * which can always go into a Location header.
 */
export function safeNext(next: string | undefined | null, fallback = "/folders"): string {
  if (!next?.startsWith("/")) return fallback;
  let url: URL;
  try {
    url = new URL(next, LOCAL_ORIGIN);
  } catch {
    return fallback;
  }
  return url.origin === LOCAL_ORIGIN ? url.pathname + url.search + url.hash : fallback;
}
