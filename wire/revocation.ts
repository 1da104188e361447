/**
 * Changes that take access away, applied to SQL-door connections already
 * open. Each connection remembers what its login rests on (`LoginWatch`).
 * Every change notification that may concern it (`svc.invalidate`: on
 * PostgreSQL from any instance on the database) marks it, and a check
 * shortly after — or before its next message, whichever comes first — reads
 * the credential and the folder's permissions again: one check per
 * credential and folder, however many connections share them. Keys, tokens
 * and session keys that end by time are checked again when they end.
 */
import type { CredentialKind } from "../src/core/actor.ts";
import { getUser } from "../src/data/users.ts";
import type { Invalidation } from "../src/invalidation.ts";
import { keyStanding } from "../src/doors/keys/mod.ts";
import { Permission } from "../src/security/permissions.ts";
import type { Services } from "../src/services.ts";
import { appUserSqlLevel } from "./secret_login.ts";
import { tokenStanding } from "../src/doors/tokens/resolve.ts";
import { type FolderScope, readableFolders, withheldLists } from "./sandbox.ts";
import type { WithheldTable } from "../src/sql/mod.ts";
import type { DeclaredPhiLevel } from "../src/security/phi.ts";

/** What a login rests on: whatever of it changes may end the connection. */
interface LoginBasis {
  userId: number;
  credential: { kind: CredentialKind; id: string | null };
  containerId: number;
  containerPath: string;
  /** The stored password verifier at login: a new password ends password logins. */
  verifier: string | null;
  /** An external app's user: the app's state counts too. */
  appUser: boolean;
  /** The PHI level in force: which lists SQL may read (withheldLists). */
  phiLevel: DeclaredPhiLevel;
}

type Folders = FolderScope["readableFolders"];

/** A connection as the revocation sees it. */
export interface Watched {
  readonly watch: LoginWatch;
  readonly closed: boolean;
  /** The credential ended, or the folder can no longer be read: `cause` says which. */
  revoke(cause: string): void;
  /** Still signed in, and these are the folders and lists it may read now. */
  rescope(folders: Folders, withheld: readonly WithheldTable[]): void;
}

/** Changes heard and checked for one connection; read on every message, so plain fields. */
export class LoginWatch {
  readonly basis: LoginBasis;
  /** Connections with the same key share their checks. */
  readonly key: string;
  /** The last change heard that concerns it, and the last one checked (generations). */
  heard = 0;
  checked = 0;
  /** Something is to be done before the next message: a check, or a narrowing to apply. */
  stale = false;
  /** The browser session behind a session key, once a check has read it. */
  sessionId: string | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(basis: LoginBasis) {
    this.basis = basis;
    const { userId, credential, containerId } = basis;
    this.key = `${userId}:${credential.kind}:${credential.id ?? ""}:${containerId}`;
  }

  /** Calls `expire` at `until` (credentials that end by time). */
  arm(until: Date | null, now: Date, expire: () => void): void {
    clearTimeout(this.#timer);
    if (!until) return;
    // Timers take at most 2^31 - 1 ms: a later end is looked at again then.
    const delay = Math.min(until.getTime() - now.getTime(), 0x7fffffff);
    this.#timer = setTimeout(expire, Math.max(0, delay));
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}

/** What a check found for one credential and folder. */
type Standing =
  | { ended: string }
  | { ended: null; until: Date | null; sessionId: string | null };
type Verdict = { ended: string } | {
  ended: null;
  until: Date | null;
  sessionId: string | null;
  folders: Folders;
  withheld: WithheldTable[];
};

/** Waits this long after a change before checking, so a burst of them costs one check. */
const SETTLE_MS = 5;

const KEY_KINDS = new Set<CredentialKind>(["api_key", "session_key"]);

/** Which connections a change may concern, or null for none. */
function concerned(event: Invalidation): ((watch: LoginWatch) => boolean) | null {
  switch (event.kind) {
    case "all":
    case "permissions":
    case "lists":
      return () => true;
    case "key":
      return ({ basis }) =>
        KEY_KINDS.has(basis.credential.kind) && basis.credential.id === event.id;
    case "session":
      // A session key whose first check has not said its session yet counts too.
      return ({ basis, sessionId }) =>
        basis.credential.kind === "session_key" && (sessionId ?? event.id) === event.id;
    case "token":
      return ({ basis }) =>
        basis.credential.kind === "token"
          ? event.id === undefined || basis.credential.id === event.id
          : event.id === undefined && basis.appUser;
    default:
      return null;
  }
}

async function credentialStanding(svc: Services, basis: LoginBasis): Promise<Standing> {
  const { kind, id } = basis.credential;
  if (KEY_KINDS.has(kind)) return await keyStanding(svc, id!);
  if (kind === "token") {
    const token = await tokenStanding(svc, id!);
    if (token.ended !== null) return token;
    if (token.userId !== basis.userId) return { ended: "This token now acts as another user" };
    if (token.phiLevel !== basis.phiLevel) {
      return {
        ended: `This token's external app now has PHI level ${token.phiLevel}: sign in again`,
      };
    }
    return { ended: null, until: token.until, sessionId: null };
  }
  const user = await getUser(svc, basis.userId);
  if (!user?.active) return { ended: "This account was deactivated" };
  if (user.password_verifier !== basis.verifier) {
    return { ended: "The password of this account was changed" };
  }
  if (basis.appUser) {
    const level = await appUserSqlLevel(svc, user);
    if (level === null) {
      return { ended: "This account's external app is disabled or no longer allows the SQL door" };
    }
    if (level !== basis.phiLevel) {
      return { ended: `This account's external app now has PHI level ${level}: sign in again` };
    }
  }
  return { ended: null, until: null, sessionId: null };
}

async function checkLogin(svc: Services, basis: LoginBasis): Promise<Verdict> {
  const standing = await credentialStanding(svc, basis);
  if (standing.ended !== null) return standing;
  const bits = await svc.permissions.resolve(basis.userId, basis.containerId);
  if (!(bits & Permission.READ)) {
    return { ended: `Permission to read ${basis.containerPath} was removed` };
  }
  return {
    ...standing,
    folders: await readableFolders(svc, basis.userId),
    withheld: await withheldLists(svc, basis.containerId, basis.phiLevel),
  };
}

/** The door's side: hears changes, checks the connections they concern, applies the verdicts. */
export class Revocations {
  readonly #svc: Services;
  readonly #sessions: () => Iterable<Watched>;
  readonly #log: (message: string) => void;
  /** Goes up with every change heard that may take access away. */
  #generation = 0;
  readonly #due = new Set<Watched>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Checks under way, by LoginWatch key, and the generation each started at. */
  readonly #checks = new Map<string, { generation: number; verdict: Promise<Verdict> }>();

  constructor(svc: Services, sessions: () => Iterable<Watched>, log: (message: string) => void) {
    this.#svc = svc;
    this.#sessions = sessions;
    this.#log = log;
    svc.invalidate.subscribe((event) => this.#heard(event));
  }

  /** Changes heard so far: a login compares it before and after, to catch one made meanwhile. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Watches a connection that has just signed in; `since` is the generation
   * before its login began, so a change made meanwhile is checked before
   * its first statement. Keys and tokens are looked at once more now (from
   * the cache their login filled) to learn when they end by time.
   */
  watch(session: Watched, since: number): void {
    const watch = session.watch;
    if (since !== this.#generation) this.#mark(session, this.#generation);
    if (watch.basis.credential.kind === "password") return;
    credentialStanding(this.#svc, watch.basis).then((standing) => {
      if (session.closed) return;
      if (standing.ended !== null) return this.#mark(session, ++this.#generation);
      this.#schedule(session, standing);
    }, (error) => this.#failed(session, error));
  }

  #heard(event: Invalidation): void {
    const concerns = concerned(event);
    if (!concerns) return;
    const generation = ++this.#generation;
    for (const session of this.#sessions()) {
      if (session.watch && concerns(session.watch)) this.#mark(session, generation);
    }
  }

  #mark(session: Watched, generation: number): void {
    session.watch.heard = generation;
    session.watch.stale = true;
    this.#due.add(session);
    this.#timer ??= setTimeout(() => this.#checkDue(), SETTLE_MS);
  }

  #checkDue(): void {
    this.#timer = null;
    const due = [...this.#due];
    this.#due.clear();
    for (const session of due) this.settle(session).catch(() => {});
  }

  /** Resolves once every change the connection heard is checked and its verdict applied. */
  async settle(session: Watched): Promise<void> {
    const watch = session.watch;
    while (watch.heard > watch.checked) {
      let check = this.#checks.get(watch.key);
      if (!check || check.generation < watch.heard) {
        const started = {
          generation: this.#generation,
          verdict: checkLogin(this.#svc, watch.basis),
        };
        this.#checks.set(watch.key, check = started);
        started.verdict.finally(() => {
          if (this.#checks.get(watch.key) === started) this.#checks.delete(watch.key);
        }).catch(() => {});
      }
      let verdict: Verdict;
      try {
        verdict = await check.verdict;
      } catch (error) {
        return this.#failed(session, error);
      }
      if (session.closed) return;
      if (watch.checked >= check.generation) continue; // another caller applied it
      watch.checked = check.generation;
      watch.stale = watch.heard > watch.checked;
      if (verdict.ended !== null) return session.revoke(verdict.ended);
      this.#schedule(session, verdict);
      session.rescope(verdict.folders, verdict.withheld);
    }
  }

  #schedule(session: Watched, standing: Exclude<Standing, { ended: string }>): void {
    session.watch.sessionId = standing.sessionId;
    session.watch.arm(
      standing.until,
      this.#svc.now(),
      () => this.#mark(session, ++this.#generation),
    );
  }

  /** A check that could not be made: the connection cannot be vouched for, so it ends. */
  #failed(session: Watched, error: unknown): void {
    this.#log(`SQL door: could not check a connection's login again: ${(error as Error)?.stack}`);
    session.revoke("Its sign-in could not be checked again: reconnect");
  }
}
