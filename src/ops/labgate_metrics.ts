/**
 * What labgate reports at /metrics. Doors report through two places they
 * already pass: every audit entry (sign-ins and their failures, SQL-door
 * statements with their time and outcome) and the HTTP request log line;
 * the rest is read at scrape time from gauges the SQL door and main.ts add.
 */
import type { AuditObserver, AuditRecord } from "../audit/mod.ts";
import type { PgliteClient, PreemptCause } from "../db/pglite_client.ts";
import { type Counter, type Histogram, MetricsRegistry } from "./metrics.ts";

/**
 * The statement outcomes an operator watches, from the audit entry: its
 * outcome, and for errors the SQLSTATE the door put in its message
 * (`57014 canceling statement due to statement timeout`).
 */
function statementOutcome(entry: AuditRecord): string {
  if (entry.outcome === "ok") return "ok";
  if (entry.outcome === "denied") return "refused";
  const message = entry.message ?? "";
  if (message.startsWith("57014")) return /timeout/.test(message) ? "timed_out" : "cancelled";
  if (message.startsWith("25P03")) return "timed_out";
  return "failed";
}

/** Sign-ins and credential uses: `login`, `key.login`, `key.use`, `token.use`. */
const AUTH_EVENT = /^(login|\w+\.login|\w+\.use)$/;

export class LabgateMetrics {
  readonly registry = new MetricsRegistry();
  readonly httpRequests: Counter;
  readonly httpDuration: Histogram;
  readonly authFailures: Counter;
  readonly statements: Counter;
  readonly statementDuration: Histogram;
  readonly auditWrites: Counter;
  readonly auditWriteDuration: Histogram;

  constructor() {
    const r = this.registry;
    this.httpRequests = r.counter(
      "labgate_http_requests_total",
      "HTTP requests by door, method, route and status",
    );
    this.httpDuration = r.histogram(
      "labgate_http_request_duration_seconds",
      "HTTP request latency by door, method and route",
    );
    this.authFailures = r.counter(
      "labgate_auth_failures_total",
      "Failed or refused sign-ins and credential uses by door",
    );
    this.statements = r.counter(
      "labgate_sql_statements_total",
      "SQL-door statements by outcome (ok, refused, cancelled, timed_out, failed)",
    );
    this.statementDuration = r.histogram(
      "labgate_sql_statement_duration_seconds",
      "SQL-door statement latency, from the client's message to the last reply",
    );
    r.gauge(
      "labgate_sql_statement_latency_seconds",
      "SQL-door statement latency quantiles (p50, p99) since start, from the histogram's buckets",
      () =>
        [0.5, 0.99].map((q) => ({
          labels: { quantile: q },
          value: this.statementDuration.quantile({}, q),
        })),
    );
    this.auditWrites = r.counter(
      "labgate_audit_writes_total",
      "Audit log batch writes by outcome",
    );
    this.auditWriteDuration = r.histogram(
      "labgate_audit_write_duration_seconds",
      "Audit log batch write latency",
    );
  }

  /** Sees the audit log's entries and writes (AuditLog.observe). */
  readonly audit: AuditObserver = {
    entry: (entry) => this.#auditEntry(entry),
    written: (ms, ok) => {
      this.auditWrites.inc({ outcome: ok ? "ok" : "failed" });
      this.auditWriteDuration.observe({}, ms / 1000);
    },
  };

  #auditEntry(entry: AuditRecord): void {
    if (entry.outcome !== "ok" && AUTH_EVENT.test(entry.event)) {
      this.authFailures.inc({ door: entry.door });
    }
    if (entry.door === "sql" && entry.event === "sql.query") {
      this.statements.inc({ outcome: statementOutcome(entry) });
      if (typeof entry.durationMs === "number") {
        this.statementDuration.observe({}, entry.durationMs / 1000);
      }
    }
  }

  /** The embedded database's thread restarts and stopped statements, read at each scrape. */
  observeEmbedded(pglite: Pick<PgliteClient, "restarts" | "preemptions">): void {
    const r = this.registry;
    r.counterOf(
      "labgate_embedded_restarts_total",
      "Restarts of the embedded database's thread (each stops the statement running there)",
      () => [{ value: pglite.restarts }],
    );
    r.counterOf(
      "labgate_embedded_preemptions_total",
      "Statements and SQL-door sessions the embedded database stopped, by cause: a time limit " +
        "(timeout), a SQL-door client's cancel (cancel), the web side waiting behind a SQL-door " +
        "statement (web), behind an idle SQL-door transaction (idle) or behind one whose client " +
        "stopped reading its results (slow_reader)",
      () =>
        (Object.entries(pglite.preemptions) as [PreemptCause, number][]).map(([cause, value]) => ({
          labels: { cause },
          value,
        })),
    );
  }

  observeRequest(
    request: { door: string; method: string; route: string },
    status: number,
    ms: number,
  ): void {
    this.httpRequests.inc({ ...request, status });
    this.httpDuration.observe(request, ms / 1000);
  }
}
