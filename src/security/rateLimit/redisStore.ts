import { Redis } from 'ioredis';
import { decisionOf, gcraParams } from './gcra.js';
import type { RateLimitStore, RateRule } from './types.js';

/**
 * GCRA in Redis (./gcra.ts has the same steps in TypeScript). The clock is
 * Redis's TIME, read inside the script, so every instance charges against
 * one clock whatever their own clocks say. The script runs atomically: no
 * two instances can both take the last request of a budget. Returns
 * { allowed (0/1), TAT - now, wait before a retry } in microseconds.
 */
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - tolerance - interval
if now < allow_at then return {0, tat - now, allow_at - now} end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, new_tat - now, 0}
`;

/** Every key the service writes starts with this, so a shared Redis can be inspected and cleaned. */
export const KEY_PREFIX = 'petcut:rl:';

type GcraCommand = (key: string, intervalUs: number, toleranceUs: number, cost: number) => Promise<[number, number, number]>;

export interface RedisStoreOptions {
  readonly url: string;
  /** Bounds every command: Redis must never make a request hang. */
  readonly timeoutMs: number;
  /** Connection errors (ioredis reports each reconnect attempt); the failover store logs outages itself. */
  readonly onError?: (error: Error) => void;
}

export interface RedisRateLimitStore extends RateLimitStore {
  /** Resolves when Redis answers a PING within the timeout. */
  ping(): Promise<void>;
}

export function createRedisStore(options: RedisStoreOptions): RedisRateLimitStore {
  const client = new Redis(options.url, {
    lazyConnect: true,
    // While disconnected, commands fail at once (the memory store answers) instead of queueing.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(1000, options.timeoutMs),
    // Reconnect quickly so shared budgets come back within a second or so of Redis.
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  client.on('error', (error: Error) => options.onError?.(error));
  client.defineCommand('petcutGcra', { numberOfKeys: 1, lua: GCRA_LUA });
  const gcra = (client as unknown as { petcutGcra: GcraCommand }).petcutGcra.bind(client);
  let everReady = false;
  client.once('ready', () => (everReady = true));
  const firstConnection = client.connect().catch(() => undefined);

  /** Only the very first connection is waited for (bounded), so start-up requests are not failovers. */
  const connected = async (): Promise<void> => {
    if (everReady) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, options.timeoutMs)));
    await Promise.race([firstConnection, timeout]).finally(() => clearTimeout(timer));
  };

  return {
    kind: 'redis',
    async consume(key: string, rule: RateRule, cost = 1) {
      await connected();
      const params = gcraParams(rule);
      const [allowed, horizonUs, retryUs] = await gcra(KEY_PREFIX + key, params.intervalUs, params.toleranceUs, cost);
      return decisionOf(rule, params, allowed === 1, Number(horizonUs), Number(retryUs));
    },
    async ping() {
      await client.ping();
    },
    close() {
      client.disconnect();
      return Promise.resolve();
    },
  };
}
