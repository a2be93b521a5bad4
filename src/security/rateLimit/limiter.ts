import { createHash } from 'node:crypto';
import type { SecurityConfig } from '../config.js';
import { createFailoverStore } from './failoverStore.js';
import type { FailoverStore } from './failoverStore.js';
import { createMemoryStore } from './memoryStore.js';
import { createRedisStore } from './redisStore.js';
import type { Backend, RateDecision, RateLimitLog, RateLimitStats, RateLimitStore, RateRule } from './types.js';

export type RuleName = 'ip' | 'session' | 'warmup' | 'signature';
export type RateLimitConfig = SecurityConfig['rateLimit'];

export interface RateLimiter {
  /** The rules in force; a rule configured with limit 0 is absent (off). */
  readonly rules: Readonly<Partial<Record<RuleName, RateRule>>>;
  /** Charges one request to `subject` (an IP, a session id) under the rule; undefined when the rule is off. */
  charge(rule: RuleName, subject: string, cost?: number): Promise<RateDecision | undefined>;
  /** Charges under a rule that is not one of the configured ones (a mitigation's temporary throttle), in the same store. */
  chargeRule(rule: RateRule, subject: string): Promise<RateDecision>;
  stats(): RateLimitStats;
  /** `memory` or `redis+memory`. */
  readonly kind: string;
  close(): Promise<void>;
}

export interface RateLimiterOptions {
  readonly log: RateLimitLog;
  /** Replaces the store chosen from the config (tests: a memory store with a controllable clock). */
  readonly store?: RateLimitStore;
  readonly onStateChange?: (backend: Backend, reason?: string) => void;
}

/** The plan's rules: per client IP and per session per minute, warm-ups per hour. */
export function rulesOf(config: RateLimitConfig): Partial<Record<RuleName, RateRule>> {
  const rules: Partial<Record<RuleName, RateRule>> = {};
  if (config.ipPerMin > 0) rules.ip = { name: 'ip', limit: config.ipPerMin, windowS: 60, burst: config.burst };
  if (config.sessionPerMin > 0) rules.session = { name: 'session', limit: config.sessionPerMin, windowS: 60, burst: config.burst };
  // A warm-up loads and runs the model (seconds of CPU). The plan's "at most 20 per hour" holds in any
  // rolling hour: half the budget may be spent at once, the other half refills over the hour.
  if (config.warmupPerHour > 0) {
    const half = Math.max(1, Math.floor(config.warmupPerHour / 2));
    rules.warmup = { name: 'warmup', limit: half, windowS: 3600, burst: Math.max(0, config.warmupPerHour - half - 1) };
  }
  // One signature's lifetime budget: all of it at once, then one more per window (by then it is stale).
  if (config.signatureUses && config.signatureWindowS) rules.signature = { name: 'signature', limit: 1, windowS: config.signatureWindowS, burst: config.signatureUses - 1 };
  return rules;
}

export function createRateLimiter(config: RateLimitConfig, options: RateLimiterOptions): RateLimiter {
  const rules = rulesOf(config);
  const { store, failover } = options.store ? { store: options.store, failover: undefined } : storeOf(config, options);
  const rejected: Record<string, number> = {};
  return {
    rules,
    kind: store.kind,
    async charge(name: RuleName, subject: string, cost = 1) {
      const rule = rules[name];
      if (!rule) return undefined;
      const decision = await store.consume(`${name}:${keyOf(subject)}`, rule, cost);
      if (!decision.allowed) rejected[name] = (rejected[name] ?? 0) + 1;
      return decision;
    },
    async chargeRule(rule, subject) {
      const decision = await store.consume(`${rule.name}:${keyOf(subject)}`, rule, 1);
      if (!decision.allowed) rejected[rule.name] = (rejected[rule.name] ?? 0) + 1;
      return decision;
    },
    stats: () => ({
      backend: failover?.backend ?? 'memory',
      failovers: failover?.failovers ?? 0,
      fallbackDecisions: failover?.fallbackDecisions ?? 0,
      rejected: { ...rejected },
    }),
    close: () => store.close(),
  };
}

/** Memory alone by default; with REDIS_URL, Redis shared by every instance, memory while it is away. */
function storeOf(config: RateLimitConfig, options: RateLimiterOptions): { store: RateLimitStore; failover?: FailoverStore } {
  const memory = createMemoryStore({ maxKeys: config.maxKeys });
  if (!config.redisUrl) return { store: memory };
  const redis = createRedisStore({ url: config.redisUrl, timeoutMs: config.redisTimeoutMs });
  const failover = createFailoverStore(redis, memory, { log: options.log, onStateChange: options.onStateChange });
  return { store: failover, failover };
}

/** Subjects come from clients (session ids): long ones are hashed so a key stays small in memory and in Redis. */
function keyOf(subject: string): string {
  return subject.length <= 128 ? subject : createHash('sha256').update(subject).digest('base64url');
}
