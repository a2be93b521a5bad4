import { Redis } from 'ioredis';
import type { MitigationStore } from './store.js';
import type { Mitigation } from './types.js';
import { keyOf } from './types.js';

/**
 * The active mitigations in one Redis hash (field: action:fingerprint, value:
 * the record as JSON), shared by every instance. Entries carry their own
 * expiry; the hash as a whole gets a TTL a day past the longest one, so a
 * Redis shared with other work is never left holding stale ones.
 */
export const MITIGATIONS_KEY = 'petcut:mitigations';
const DAY_MS = 86_400_000;

export interface RedisMitigationStoreOptions {
  readonly url: string;
  /** Bounds every command: a slow Redis must not hold an alert notification or the refresh timer. */
  readonly timeoutMs: number;
  readonly onError?: (error: Error) => void;
  /** The hash's name (tests sharing one Redis give each their own). */
  readonly key?: string;
}

export function createRedisMitigationStore(options: RedisMitigationStoreOptions): MitigationStore {
  const client = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(1000, options.timeoutMs),
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  client.on('error', (error: Error) => options.onError?.(error));
  const key = options.key ?? MITIGATIONS_KEY;
  void client.connect().catch(() => undefined);

  const parse = (text: string): Mitigation | undefined => {
    try {
      return JSON.parse(text) as Mitigation;
    } catch {
      return undefined;
    }
  };

  return {
    kind: 'redis',
    async list() {
      const all = await client.hgetall(key);
      return Object.values(all).map(parse).filter((m): m is Mitigation => m !== undefined);
    },
    async add(mitigation) {
      const added = await client.hsetnx(key, keyOf(mitigation), JSON.stringify(mitigation));
      if (added !== 1) return false;
      const until = Date.parse(mitigation.expiresAt) + DAY_MS;
      // Never shortens the hash's life: another entry may last longer than this one.
      if (Date.now() + (await client.pttl(key)) < until) await client.pexpireat(key, until);
      return true;
    },
    remove: async (field) => (await client.hdel(key, field)) === 1,
    async close() {
      client.disconnect();
    },
  };
}
