/**
 * How long statements took last time, so that quick ones may run on a
 * backend behind other clients' statements. A statement seen for the first
 * time, or slow last time, gets a backend of its own: nobody should queue
 * behind a long query. Statements are told apart by their analysis, which
 * texts differing only in their numbers share (`src/sql/shape.ts`), so a
 * client inlining values is known after its first statement.
 */

/** Statements that took less than this (queueing included) count as quick. */
const QUICK_MS = 20;

export class StatementTimes {
  readonly #ms = new WeakMap<object, number>();

  /** `shape`: the analysis the statement ran as (its statement list). */
  record(shape: object, ms: number): void {
    this.#ms.set(shape, ms);
  }

  /** Known, and quick last time. */
  quick(shape: object): boolean {
    const ms = this.#ms.get(shape);
    return ms !== undefined && ms < QUICK_MS;
  }
}
