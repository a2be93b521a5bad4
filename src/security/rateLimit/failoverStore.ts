import type { MemoryRateLimitStore } from './memoryStore.js';
import type { RedisRateLimitStore } from './redisStore.js';
import type { Backend, RateLimitLog, RateLimitStore, RateRule } from './types.js';

export interface FailoverOptions {
  readonly log: RateLimitLog;
  /** Told of every switch (metrics, #6). */
  readonly onStateChange?: (backend: Backend, reason?: string) => void;
  /** How often, at most, Redis is probed while the memory store answers. */
  readonly probeIntervalMs?: number;
}

export interface FailoverStore extends RateLimitStore {
  readonly backend: Backend;
  readonly failovers: number;
  readonly fallbackDecisions: number;
}

/**
 * Redis while it answers, this process's memory while it does not: a Redis
 * outage is neither an outage of the service nor unlimited traffic (each
 * instance then enforces the budgets on its own). Every Redis call is bounded
 * by the client's command timeout, and while Redis is away requests do not
 * wait for it at all: a PING, at most once per probe interval and off the
 * request path, decides when to switch back.
 */
export function createFailoverStore(redis: RedisRateLimitStore, memory: MemoryRateLimitStore, options: FailoverOptions): FailoverStore {
  const probeIntervalMs = options.probeIntervalMs ?? 1000;
  let backend: Backend = 'redis';
  let failovers = 0;
  let fallbackDecisions = 0;
  let outageStartedAt = 0;
  let outageDecisions = 0;
  let lastProbeAt = 0;
  let probing = false;

  const failOver = (error: unknown): void => {
    if (backend === 'memory') return;
    backend = 'memory';
    failovers += 1;
    outageStartedAt = lastProbeAt = Date.now();
    outageDecisions = 0;
    const reason = error instanceof Error ? error.message : String(error);
    options.log.warn({ reason, failovers }, 'rate limits: Redis unavailable, each instance enforces the budgets in memory until it answers again');
    options.onStateChange?.('memory', reason);
  };
  const switchBack = (): void => {
    if (backend === 'redis') return;
    backend = 'redis';
    options.log.info({ outageMs: Date.now() - outageStartedAt, fallbackDecisions: outageDecisions }, 'rate limits: Redis answers again, budgets are shared again');
    options.onStateChange?.('redis');
  };
  const probeSoon = (): void => {
    if (probing || Date.now() - lastProbeAt < probeIntervalMs) return;
    probing = true;
    lastProbeAt = Date.now();
    void redis.ping().then(switchBack, () => undefined).finally(() => (probing = false));
  };

  return {
    kind: 'redis+memory',
    get backend() {
      return backend;
    },
    get failovers() {
      return failovers;
    },
    get fallbackDecisions() {
      return fallbackDecisions;
    },
    async consume(key: string, rule: RateRule, cost = 1) {
      if (backend === 'redis') {
        try {
          const decision = await redis.consume(key, rule, cost);
          memory.mirror(key, decision.resetMs);
          return decision;
        } catch (error) {
          failOver(error);
        }
      } else {
        probeSoon();
      }
      fallbackDecisions += 1;
      outageDecisions += 1;
      return memory.consume(key, rule, cost);
    },
    async close() {
      await Promise.all([redis.close(), memory.close()]);
    },
  };
}
