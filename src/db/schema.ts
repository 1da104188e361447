import type { ColumnType, Generated, Selectable } from "kysely";

/** A timestamp column: the database fills it by default, we read Dates. */
type CreatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

interface SettingsTable {
  key: string;
  value: Json<unknown>;
  updated_at: CreatedAt;
}

interface ContainersTable {
  id: Generated<number>;
  parent_id: number | null;
  name: string;
  path: string;
  /** true: the parent's policy applies; false: this folder's own role assignments do. */
  inherit_policy: Generated<boolean>;
  description: Generated<string>;
  created_at: CreatedAt;
  created_by: number | null;
}

type PrincipalKind = "user" | "group";

interface PrincipalsTable {
  id: Generated<number>;
  kind: PrincipalKind;
}

export type UserType = "normal" | "app";

interface UsersTable {
  id: number;
  email: string;
  display_name: string;
  department: Generated<string>;
  active: Generated<boolean>;
  user_type: Generated<UserType>;
  /** Set for user_type "app": the external application this account belongs to. */
  external_app_id: string | null;
  /** PostgreSQL's SCRAM-SHA-256 verifier text, or null when the user has no password. */
  password_verifier: string | null;
  must_change_password: Generated<boolean>;
  created_at: CreatedAt;
  last_login_at: Timestamp | null;
  /** The user's own statement time limit, set by an admin; null: the site's. */
  statement_timeout_seconds: Generated<number | null>;
}

interface GroupsTable {
  id: number;
  name: string;
  description: Generated<string>;
  created_at: CreatedAt;
}

interface GroupMembersTable {
  group_id: number;
  user_id: number;
}

interface RoleAssignmentsTable {
  container_id: number;
  principal_id: number;
  role: string;
}

interface ListsTable {
  id: Generated<number>;
  container_id: number;
  name: string;
  /** Physical table name inside the folder's schema (lower-case name). */
  table_name: string;
  key_column: string;
  /** true: the key is an integer the database assigns. */
  key_auto: boolean;
  description: Generated<string>;
  created_at: CreatedAt;
  created_by: number | null;
}

interface ListColumnsTable {
  list_id: number;
  position: number;
  name: string;
  column_name: string;
  type: string;
  required: Generated<boolean>;
  description: Generated<string>;
  /** Who may see the column: a ColumnPhiLevel (src/security/phi.ts). */
  phi: Generated<string>;
}

interface SessionsTable {
  id: string;
  secret_hash: string;
  user_id: number;
  impersonator_id: number | null;
  csrf_token: string;
  compliance: Json<Record<string, unknown> | null> | null;
  client_addr: string | null;
  user_agent: string | null;
  created_at: CreatedAt;
  last_seen_at: CreatedAt;
  expires_at: Timestamp;
  ended_at: Timestamp | null;
  end_reason: string | null;
}

interface AuditLogTable {
  id: Generated<number>;
  at: CreatedAt;
  door: string;
  event: string;
  outcome: string;
  user_id: number | null;
  user_email: string | null;
  credential_kind: string | null;
  credential_id: string | null;
  compliance: Json<Record<string, unknown> | null> | null;
  container_id: number | null;
  container_path: string | null;
  detail: string | null;
  rows: number | null;
  duration_ms: number | null;
  client_addr: string | null;
  message: string | null;
}

interface CoreTables {
  settings: SettingsTable;
  containers: ContainersTable;
  principals: PrincipalsTable;
  users: UsersTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  role_assignments: RoleAssignmentsTable;
  lists: ListsTable;
  list_columns: ListColumnsTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
}

/** A self-signed certificate for the SQL door; the newest row is the one in use. */
export interface TlsCertificatesTable {
  id: Generated<number>;
  created_at: CreatedAt;
  not_before: Timestamp;
  not_after: Timestamp;
  /** SHA-256 of the DER certificate, lower-case hex. */
  fingerprint: string;
  /** The names and addresses in the subjectAltName, comma-separated, sorted. */
  hosts: string;
  cert_pem: string;
  /** PKCS#8 PEM, or its AES-GCM sealing when `key_encrypted`. Never leaves the server. */
  key_pem: string;
  key_encrypted: boolean;
}

interface TlsTables {
  tls_certificates: TlsCertificatesTable;
}

interface RemoteSitesTable {
  id: Generated<number>;
  name: string;
  /** Allowed returnUrl origins or URL prefixes, e.g. ["https://app.example", "http://x/app/"]. */
  prefixes: Json<string[]>;
  created_at: CreatedAt;
  created_by: number | null;
}

interface RemoteLoginTokensTable {
  /** Short non-secret id for the audit log (start of the hash). */
  id: string;
  /** SHA-256 of the token; the token itself is never stored. */
  token_hash: string;
  user_id: number;
  /** The browser session the token lives and dies with. */
  session_id: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
}

interface RemoteLoginTables {
  remote_sites: RemoteSitesTable;
  remote_login_tokens: RemoteLoginTokensTable;
}

/** Failed sign-ins per key (account, address, or both), shared by every instance. */
interface LoginThrottleTable {
  key: string;
  failures: number;
  last_failed_at: Timestamp;
}

interface SecurityTables {
  login_throttle: LoginThrottleTable;
}

/** Every table of labgate's own schema (`lg_app`); each door adds its tables here. */
export type Schema =
  & CoreTables
  & TlsTables
  & KeyTables
  & TokenTables
  & RemoteLoginTables
  & SecurityTables;
export type KeyKind = "api_key" | "session_key";

interface KeysTable {
  /** Public, non-secret id: the part of the key before the dot. */
  id: string;
  kind: KeyKind;
  /** SHA-256 (hex) of the secret part; the key itself is never stored. */
  secret_hash: string;
  user_id: number;
  /** The browser session a session key lives and dies with. */
  session_id: string | null;
  description: Generated<string>;
  created_at: CreatedAt;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  revoked_by: number | null;
  /** An API key's PHI level, chosen when it was made; null for session keys (their session's). */
  phi_level: string | null;
  /** The key's own statement time limit, set by an admin; null: its user's, else the site's. */
  statement_timeout_seconds: Generated<number | null>;
}

interface KeyTables {
  keys: KeysTable;
}
export type AppStatus = "active" | "disabled";

interface ExternalAppsTable {
  id: string;
  description: Generated<string>;
  status: Generated<AppStatus>;
  entry_rest: Generated<boolean>;
  entry_sql: Generated<boolean>;
  entry_action: Generated<boolean>;
  /** REST calls limited to GET/HEAD. */
  rest_read_only: Generated<boolean>;
  /** Allowed REST path patterns (`*` wildcards); empty allows every path. */
  rest_paths: ColumnType<string[], string | undefined, string>;
  default_expiry_days: Generated<number>;
  /** The PHI level in force for the app's tokens and accounts (a DeclaredPhiLevel). */
  phi_level: Generated<string>;
  /** Shipped with labgate: view-only. */
  built_in: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export type TokenStatus = "pending" | "disabled" | "active" | "expired";
export type ProcessAs = "never" | "any" | "specific" | "department" | "role";
export type PermittedActions = "full" | "restricted" | "roles";

interface AuthTokensTable {
  id: string;
  /** SHA-256 (hex) of the secret part; the value itself is never stored. */
  secret_hash: string;
  app_id: string;
  app_user_id: number;
  description: Generated<string>;
  request_reason: Generated<string>;
  status: TokenStatus;
  expires_at: Timestamp;
  process_as: Generated<ProcessAs>;
  /** User id (specific), department name (department) or role name (role). */
  process_as_target: string | null;
  permitted: Generated<PermittedActions>;
  permitted_list: ColumnType<string[], string | undefined, string>;
  created_at: CreatedAt;
  created_by: number | null;
  last_used_at: Timestamp | null;
}

interface TokenTables {
  external_apps: ExternalAppsTable;
  auth_tokens: AuthTokensTable;
}

export type Container = Selectable<ContainersTable>;
export type User = Selectable<UsersTable>;
export type Group = Selectable<GroupsTable>;
export type List = Selectable<ListsTable>;
export type ListColumn = Selectable<ListColumnsTable>;
export type Session = Selectable<SessionsTable>;
export type AuditEntry = Selectable<AuditLogTable>;
export type RemoteSite = Selectable<RemoteSitesTable>;
export type RemoteLoginToken = Selectable<RemoteLoginTokensTable>;
export type Key = Selectable<KeysTable>;
export type ExternalApp = Selectable<ExternalAppsTable>;
export type AuthToken = Selectable<AuthTokensTable>;
