import type { Mitigation } from './types.js';
import { keyOf } from './types.js';

/**
 * Where the active mitigations live. In memory for one instance; with
 * REDIS_URL in Redis (./redisStore.ts), so the instance Alertmanager reached
 * and every other one see the same list.
 */
export interface MitigationStore {
  readonly kind: 'memory' | 'redis';
  list(): Promise<Mitigation[]>;
  /** Adds it unless one with the same action and fingerprint is there; true when added. */
  add(mitigation: Mitigation): Promise<boolean>;
  /** Removes it; true when it was there (so one instance, not all, undoes it). */
  remove(key: string): Promise<boolean>;
  close(): Promise<void>;
}

export function createMemoryMitigationStore(): MitigationStore {
  const active = new Map<string, Mitigation>();
  return {
    kind: 'memory',
    list: async () => [...active.values()],
    async add(mitigation) {
      const key = keyOf(mitigation);
      if (active.has(key)) return false;
      active.set(key, mitigation);
      return true;
    },
    remove: async (key) => active.delete(key),
    close: async () => undefined,
  };
}
