/**
 * Site settings, one JSON value per section in the `settings` table, so
 * every labgate instance sees the same. Each door declares its section with
 * defaults and a validator; readers get defaults merged in and a cached copy.
 */
import type { Kysely } from "kysely";
import type { Schema } from "./db/schema.ts";

export interface SettingsSection<T> {
  key: string;
  defaults: T;
  /** Returns the checked value or throws a LabgateError (400) that says what is wrong. */
  validate(value: unknown): T;
}

type Listener = (key: string) => void;

export class SettingsStore {
  readonly #db: Kysely<Schema>;
  readonly #cache = new Map<string, unknown>();
  readonly #listeners: Listener[] = [];

  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async get<T>(section: SettingsSection<T>): Promise<T> {
    if (this.#cache.has(section.key)) return this.#cache.get(section.key) as T;
    const row = await this.#db.selectFrom("settings").select("value")
      .where("key", "=", section.key).executeTakeFirst();
    const value = { ...section.defaults, ...(row?.value as Partial<T> | undefined) } as T;
    this.#cache.set(section.key, value);
    return value;
  }

  /** Validates and stores a whole section, then tells every listener. */
  async set<T>(section: SettingsSection<T>, value: unknown): Promise<T> {
    const checked = section.validate(value);
    await this.#db.insertInto("settings")
      .values({ key: section.key, value: JSON.stringify(checked), updated_at: new Date() })
      .onConflict((oc) =>
        oc.column("key").doUpdateSet({ value: JSON.stringify(checked), updated_at: new Date() })
      ).execute();
    this.invalidate(section.key);
    return checked;
  }

  /** Drops the cached copy (a change here or, through notifications, on another instance). */
  invalidate(key: string): void {
    this.#cache.delete(key);
    for (const listener of this.#listeners) listener(key);
  }

  onChange(listener: Listener): void {
    this.#listeners.push(listener);
  }
}
