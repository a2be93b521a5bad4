export { createRateLimiter, rulesOf } from './limiter.js';
export type { RateLimiter, RateLimiterOptions, RateLimitConfig, RuleName } from './limiter.js';
export { createMemoryStore } from './memoryStore.js';
export type { MemoryRateLimitStore, MemoryStoreOptions } from './memoryStore.js';
export { createRedisStore, KEY_PREFIX } from './redisStore.js';
export type { RedisRateLimitStore, RedisStoreOptions } from './redisStore.js';
export { createFailoverStore } from './failoverStore.js';
export type { FailoverOptions, FailoverStore } from './failoverStore.js';
export type { Backend, RateDecision, RateLimitLog, RateLimitStats, RateLimitStore, RateRule } from './types.js';
