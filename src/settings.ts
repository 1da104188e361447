/**
 * Site settings, one JSON value per section in the `settings` table, so
 * every labgate instance sees the same. Each door declares its section with
 * defaults and a validator; readers get defaults merged in and a cached copy.
 */
import type { Kysely } from "kysely";
import type { Schema } from "./db/schema.ts";
import type { InvalidationBus } from "./invalidation.ts";

export interface SettingsSection<T> {
  key: string;
  defaults: T;
  /** Returns the checked value or throws a LabgateError (400) that says what is wrong. */
  validate(value: unknown): T;
}

/** Gets the changed section's key, or null when every section may have changed. */
type Listener = (key: string | null) => void;

export class SettingsStore {
  readonly #db: Kysely<Schema>;
  readonly #cache = new Map<string, unknown>();
  readonly #listeners: Listener[] = [];
  readonly #bus: InvalidationBus;
  /** Goes up with every invalidation. */
  #generation = 0;

  constructor(db: Kysely<Schema>, bus: InvalidationBus) {
    this.#db = db;
    this.#bus = bus;
    bus.subscribe((event) => {
      if (event.kind === "settings") this.invalidate(event.key);
      else if (event.kind === "all") this.invalidate(null);
    });
  }

  async get<T>(section: SettingsSection<T>): Promise<T> {
    if (this.#cache.has(section.key)) return this.#cache.get(section.key) as T;
    const generation = this.#generation;
    const row = await this.#db.selectFrom("settings").select("value")
      .where("key", "=", section.key).executeTakeFirst();
    const value = { ...section.defaults, ...(row?.value as Partial<T> | undefined) } as T;
    // A change announced while reading may not be in what was read: do not keep it.
    if (generation === this.#generation) this.#cache.set(section.key, value);
    return value;
  }

  /** Validates and stores a whole section, then tells every listener on every instance. */
  async set<T>(section: SettingsSection<T>, value: unknown): Promise<T> {
    const checked = section.validate(value);
    await this.#db.insertInto("settings")
      .values({ key: section.key, value: JSON.stringify(checked), updated_at: new Date() })
      .onConflict((oc) =>
        oc.column("key").doUpdateSet({ value: JSON.stringify(checked), updated_at: new Date() })
      ).execute();
    await this.#bus.publish({ kind: "settings", key: section.key });
    return checked;
  }

  /**
   * Drops the cached copy of one section (null: all) on this instance and
   * tells the listeners; `svc.invalidate` calls it for changes anywhere.
   */
  invalidate(key: string | null): void {
    this.#generation++;
    if (key === null) this.#cache.clear();
    else this.#cache.delete(key);
    for (const listener of this.#listeners) listener(key);
  }

  onChange(listener: Listener): void {
    this.#listeners.push(listener);
  }
}
