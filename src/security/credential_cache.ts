/**
 * A per-instance cache of credential lookups (keys, tokens), trusted for at
 * most `ttlMs`, so a change made on another instance is seen within that
 * time. `drop()` forgets entries at once; a lookup that was under way when
 * something was dropped is not stored, so an older read never undoes a
 * revocation.
 */
import type { Invalidation } from "../invalidation.ts";
import type { Services } from "../services.ts";

export class CredentialCache<V> {
  readonly #entries = new Map<string, { value: V; at: number }>();
  #generation = 0;

  constructor(readonly ttlMs: number, readonly limit = 10_000) {}

  /** The cached value for `id`, or `load()`'s answer (stored unless null or dropped meanwhile). */
  async get(
    id: string,
    now: number,
    load: () => Promise<V | null>,
    fresh: (value: V) => boolean = () => true,
  ): Promise<V | null> {
    const hit = this.#entries.get(id);
    if (hit && now >= hit.at && now - hit.at < this.ttlMs && fresh(hit.value)) return hit.value;
    this.#entries.delete(id);
    const generation = this.#generation;
    const value = await load();
    if (value !== null && generation === this.#generation) {
      if (this.#entries.size >= this.limit) this.#entries.clear();
      this.#entries.set(id, { value, at: now });
    }
    return value;
  }

  /** Forgets one entry, or every entry when `id` is absent. */
  drop(id?: string): void {
    this.#generation++;
    if (id === undefined) this.#entries.clear();
    else this.#entries.delete(id);
  }

  /** Forgets the entries whose value matches. */
  dropWhere(matches: (value: V) => boolean): void {
    this.#generation++;
    for (const [id, entry] of this.#entries) if (matches(entry.value)) this.#entries.delete(id);
  }
}

/**
 * One cache per Services (each test instance gets its own), made on first
 * use; `onChange` hears every `svc.invalidate` event from any instance.
 */
export function cachePerServices<V>(
  ttlMs: number,
  onChange: (cache: CredentialCache<V>, event: Invalidation) => void,
): (svc: Services) => CredentialCache<V> {
  const caches = new WeakMap<Services, CredentialCache<V>>();
  return (svc) => {
    let cache = caches.get(svc);
    if (!cache) {
      const created = new CredentialCache<V>(ttlMs);
      svc.invalidate.subscribe((event) => onChange(created, event));
      caches.set(svc, cache = created);
    }
    return cache;
  };
}
