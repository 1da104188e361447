/**
 * What the benchmark workloads share: the seeded PostgreSQL database, labgate
 * as a subprocess (main.ts, as deployed), the load generators (pgbench and wrk
 * from Debian: C programs that leave the CPU to the server), PgBouncer, memory
 * readings, CPU-profile summaries and the results table.
 */
import type { Fixture } from "./fixture.ts";
import type { Labgate } from "./labgate.ts";
import type { PgbenchOptions } from "./pgbench.ts";
import type { Report } from "./report.ts";

export * from "./fixture.ts";
export * from "./labgate.ts";
export * from "./pgbench.ts";
export * from "./report.ts";
export * from "./wrk.ts";

/** What bench/mod.ts hands every workload. */
export interface Context {
  report: Report;
  /** Seconds per measurement. */
  seconds: number;
  /** The SQL workload takes each measurement in this many rounds, the targets in turn. */
  rounds: number;
  /** pgbench client counts of the SQL workload. */
  sqlClients: number[];
  /** wrk connections for the HTTP workloads. */
  connections: number;
  mode: PgbenchOptions["mode"];
  server: string;
  /** The seeded database, made on first use and shared by the workloads of a run. */
  fixture(): Promise<Fixture>;
  /** labgate on the fixture's database; with --profile its CPU profile is printed at stop. */
  labgate(workload: string): Promise<Labgate>;
  /** Stops `labgate` and records its profile summary (when profiling) under `workload`. */
  stop(workload: string, labgate: Labgate): Promise<void>;
}

export interface Workload {
  name: string;
  title: string;
  run(ctx: Context): Promise<void>;
}
