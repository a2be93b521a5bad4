import { decisionOf, gcraParams, gcraStep } from './gcra.js';
import type { RateLimitStore, RateRule } from './types.js';

export interface MemoryStoreOptions {
  /** Keys kept at most: each is one Map entry (a few dozen bytes); an IP flood must not grow memory without end. */
  readonly maxKeys: number;
  /** Milliseconds since the epoch; tests pass a controllable clock. */
  readonly now?: () => number;
  /** How often expired keys are dropped; they are also ignored (and replaced) when met. */
  readonly sweepIntervalMs?: number;
}

export interface MemoryRateLimitStore extends RateLimitStore {
  /** Copies a budget decided elsewhere (Redis), so a failover does not hand out fresh budgets. */
  mirror(key: string, resetMs: number): void;
  readonly size: number;
}

/** One process's budgets: the default, and the fallback while Redis is away. */
export function createMemoryStore(options: MemoryStoreOptions): MemoryRateLimitStore {
  const now = options.now ?? Date.now;
  // Insertion order is charge order (entries are re-inserted when charged): the first key is the stalest.
  const tats = new Map<string, number>();
  const nowUs = (): number => Math.round(now() * 1000);

  const remember = (key: string, tatUs: number): void => {
    tats.delete(key);
    tats.set(key, tatUs);
    while (tats.size > options.maxKeys) tats.delete(tats.keys().next().value as string);
  };
  const sweep = (): void => {
    const at = nowUs();
    for (const [key, tat] of tats) if (tat <= at) tats.delete(key);
  };
  const timer = setInterval(sweep, options.sweepIntervalMs ?? 60_000);
  timer.unref();

  return {
    kind: 'memory',
    get size() {
      return tats.size;
    },
    consume(key: string, rule: RateRule, cost = 1) {
      const at = nowUs();
      const params = gcraParams(rule);
      const step = gcraStep(tats.get(key), at, params, cost);
      if (step.allowed) remember(key, step.tatUs);
      return Promise.resolve(decisionOf(rule, params, step.allowed, step.horizonUs, step.retryUs));
    },
    mirror(key: string, resetMs: number) {
      if (resetMs > 0) remember(key, nowUs() + Math.round(resetMs * 1000));
    },
    close() {
      clearInterval(timer);
      tats.clear();
      return Promise.resolve();
    },
  };
}
