import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

/** A timestamp column: the database fills it by default, we read Dates. */
type CreatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface SettingsTable {
  key: string;
  value: Json<unknown>;
  updated_at: CreatedAt;
}

export interface ContainersTable {
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

export type PrincipalKind = "user" | "group";

export interface PrincipalsTable {
  id: Generated<number>;
  kind: PrincipalKind;
}

export type UserType = "normal" | "app";

export interface UsersTable {
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
}

export interface GroupsTable {
  id: number;
  name: string;
  description: Generated<string>;
  created_at: CreatedAt;
}

export interface GroupMembersTable {
  group_id: number;
  user_id: number;
}

export interface RoleAssignmentsTable {
  container_id: number;
  principal_id: number;
  role: string;
}

export interface ListsTable {
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

export interface ListColumnsTable {
  list_id: number;
  position: number;
  name: string;
  column_name: string;
  type: string;
  required: Generated<boolean>;
  description: Generated<string>;
}

export interface SessionsTable {
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

export interface AuditLogTable {
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

export interface CoreTables {
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

export interface TlsTables {
  tls_certificates: TlsCertificatesTable;
}

/** Every table of labgate's own schema (`lg_app`); each door adds its tables here. */
export type Schema = CoreTables & TlsTables;

export type Container = Selectable<ContainersTable>;
export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type Group = Selectable<GroupsTable>;
export type List = Selectable<ListsTable>;
export type ListColumn = Selectable<ListColumnsTable>;
export type Session = Selectable<SessionsTable>;
export type AuditEntry = Selectable<AuditLogTable>;
