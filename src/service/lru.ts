/**
 * A byte-bounded LRU with expiry: the hot end of the result cache, so a
 * repeated upload is answered without a storage round trip.
 */
export interface LruCache<V> {
  get(key: string, now?: number): V | undefined;
  set(key: string, value: V, bytes: number, expiresAt: number): void;
  delete(key: string): void;
  readonly bytes: number;
  readonly size: number;
}

export function createLru<V>(maxBytes: number): LruCache<V> {
  // Map keeps insertion order: re-inserting on read makes the first key the least recently used.
  const entries = new Map<string, { value: V; bytes: number; expiresAt: number }>();
  let total = 0;
  const remove = (key: string): void => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    total -= entry.bytes;
  };
  return {
    get(key, now = Date.now()) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt <= now) {
        remove(key);
        return undefined;
      }
      entries.delete(key);
      entries.set(key, entry);
      return entry.value;
    },
    set(key, value, bytes, expiresAt) {
      remove(key);
      if (bytes > maxBytes) return;
      entries.set(key, { value, bytes, expiresAt });
      total += bytes;
      for (const oldest of entries.keys()) {
        if (total <= maxBytes) break;
        remove(oldest);
      }
    },
    delete: remove,
    get bytes() { return total; },
    get size() { return entries.size; },
  };
}
