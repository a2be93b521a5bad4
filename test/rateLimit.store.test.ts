import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../src/security/rateLimit/limiter.js';
import { createMemoryStore } from '../src/security/rateLimit/memoryStore.js';
import { createRedisStore, KEY_PREFIX } from '../src/security/rateLimit/redisStore.js';
import type { RateDecision, RateLimitStore, RateRule } from '../src/security/rateLimit/types.js';
import { sharedRedis } from './support/redis.js';
import { until } from './support/wait.js';

/** 60 per minute: one per second sustained, 5 at once. */
const RULE: RateRule = { name: 'test', limit: 60, windowS: 60, burst: 4 };
const T0 = 1_750_000_000_000;
const silentLog = { info: () => undefined, warn: () => undefined };

function clocked(maxKeys = 1000): { store: ReturnType<typeof createMemoryStore>; advance(ms: number): void } {
  let now = T0;
  return { store: createMemoryStore({ maxKeys, now: () => now }), advance: (ms) => void (now += ms) };
}

async function run(store: RateLimitStore, key: string, rule: RateRule, count: number): Promise<RateDecision[]> {
  const out: RateDecision[] = [];
  for (let i = 0; i < count; i++) out.push(await store.consume(key, rule));
  return out;
}

const allowedIn = (decisions: RateDecision[]): number => decisions.filter((d) => d.allowed).length;

describe('GCRA in memory (controllable clock)', () => {
  it('allows burst + 1 at once, then refuses with the time to wait', async () => {
    const { store } = clocked();
    const decisions = await run(store, 'a', RULE, 7);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    expect(decisions.map((d) => d.resetS)).toEqual([1, 2, 3, 4, 5, 5, 5]);
    expect(decisions.map((d) => d.retryAfterS)).toEqual([0, 0, 0, 0, 0, 1, 1]);
    expect(decisions.every((d) => d.limit === 60)).toBe(true);
  });

  it('then allows exactly one request per emission interval', async () => {
    const { store, advance } = clocked();
    await run(store, 'a', RULE, 5);
    advance(999);
    expect((await store.consume('a', RULE)).allowed).toBe(false);
    advance(1);
    const [first, second] = await run(store, 'a', RULE, 2);
    expect(first).toMatchObject({ allowed: true, remaining: 0, resetS: 5 });
    expect(second).toMatchObject({ allowed: false, retryAfterS: 1 });
    let allowed = 0;
    for (let step = 0; step < 100; step++) {
      advance(1000);
      allowed += allowedIn(await run(store, 'a', RULE, 3));
    }
    expect(allowed).toBe(100);
  });

  it('reports a long wait in whole seconds, rounded up', async () => {
    const { store, advance } = clocked();
    const slow: RateRule = { name: 'slow', limit: 20, windowS: 3600, burst: 19 };
    expect(allowedIn(await run(store, 'w', slow, 25))).toBe(20);
    advance(1500);
    expect(await store.consume('w', slow)).toMatchObject({ allowed: false, remaining: 0, retryAfterS: 179, resetS: 3599 });
  });

  it('refills the whole burst after a pause, and charges a cost of several requests', async () => {
    const { store, advance } = clocked();
    await run(store, 'a', RULE, 6);
    advance(5000);
    expect(allowedIn(await run(store, 'a', RULE, 7))).toBe(5);
    advance(5000);
    expect(await store.consume('a', RULE, 3)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await store.consume('a', RULE, 3)).toMatchObject({ allowed: false, remaining: 2, retryAfterS: 1 });
    expect(await store.consume('a', RULE, 2)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('keeps keys independent', async () => {
    const { store } = clocked();
    await run(store, 'a', RULE, 6);
    expect(await store.consume('b', RULE)).toMatchObject({ allowed: true, remaining: 4 });
  });

  it('holds at most maxKeys keys, dropping the least recently charged', async () => {
    const { store } = clocked(3);
    await run(store, 'a', RULE, 5);
    await run(store, 'b', RULE, 1);
    await run(store, 'c', RULE, 1);
    await run(store, 'd', RULE, 1);
    expect(store.size).toBe(3);
    // 'a' was spent, but it was the stalest key: it was forgotten, and starts again with a full budget.
    expect(await store.consume('a', RULE)).toMatchObject({ allowed: true, remaining: 4 });
    expect(await store.consume('c', RULE)).toMatchObject({ allowed: true, remaining: 3 });
  });

  it('drops expired keys in the background', async () => {
    let now = T0;
    const store = createMemoryStore({ maxKeys: 100, now: () => now, sweepIntervalMs: 10 });
    await run(store, 'a', RULE, 3);
    expect(store.size).toBe(1);
    now += 3000;
    // The sweep runs on a real timer (every 10 ms): wait for it, not for a guess at when it ran.
    await until(() => store.size === 0, 'the background sweep to drop the expired key', 5_000, 5);
    await store.close();
  });

  it('answers 200 parallel calls on one key with exactly burst + 1 allowed', async () => {
    const { store } = clocked();
    const decisions = await Promise.all(Array.from({ length: 200 }, () => store.consume('a', RULE)));
    expect(allowedIn(decisions)).toBe(5);
  });
});

describe('rules from the config', () => {
  const config = { ipPerMin: 100, sessionPerMin: 20, burst: 10, warmupPerHour: 20, maxKeys: 1000, redisTimeoutMs: 250 };

  it('builds the plan\'s rules, and a limit of 0 turns a rule off', async () => {
    const limiter = createRateLimiter({ ...config, sessionPerMin: 0 }, { log: silentLog });
    expect(limiter.rules).toEqual({
      ip: { name: 'ip', limit: 100, windowS: 60, burst: 10 },
      // At most 20 in any rolling hour: 10 at once, then one every 6 minutes.
      warmup: { name: 'warmup', limit: 10, windowS: 3600, burst: 9 },
    });
    expect(limiter.kind).toBe('memory');
    expect(await limiter.charge('session', 's1')).toBeUndefined();
    const ip = await Promise.all(Array.from({ length: 30 }, () => limiter.charge('ip', '203.0.113.7')));
    expect(ip.filter((d) => d?.allowed).length).toBe(11);
    expect(limiter.stats()).toEqual({ backend: 'memory', failovers: 0, fallbackDecisions: 0, rejected: { ip: 19 } });
    await limiter.close();
  });
});

describe('GCRA in Redis', () => {
  // Undefined in afterAll when beforeAll failed (no redis-server): that failure is the one to report.
  let redis: { url: string; close(): Promise<void> };
  const stores: RateLimitStore[] = [];
  const redisStore = (): RateLimitStore => {
    // Generous timeout: these tests are about the maths, not the failover.
    const store = createRedisStore({ url: redis.url, timeoutMs: 2000 });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    redis = await sharedRedis();
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await (redis as typeof redis | undefined)?.close();
  });

  it('decides a sequence exactly as the memory store does', async () => {
    // 10 per minute: 6 s apart, far more than the test takes, so Redis's moving clock changes nothing.
    const rule: RateRule = { name: 'seq', limit: 10, windowS: 60, burst: 3 };
    const strip = ({ resetMs: _resetMs, ...rest }: RateDecision): Omit<RateDecision, 'resetMs'> => rest;
    const inRedis = await run(redisStore(), randomUUID(), rule, 7);
    const inMemory = await run(clocked().store, 'k', rule, 7);
    expect(inRedis.map(strip)).toEqual(inMemory.map(strip));
    expect(inRedis.map((d) => d.allowed)).toEqual([true, true, true, true, false, false, false]);
    expect(inRedis[4]).toMatchObject({ remaining: 0, retryAfterS: 6, resetS: 24 });
  });

  it('allows one more request per interval on Redis\'s clock, and sets a TTL', async () => {
    // 5 per second: one every 200 ms on Redis's clock (TIME, which no test controls), 2 at once.
    const rule: RateRule = { name: 'fast', limit: 5, windowS: 1, burst: 1 };
    const key = randomUUID();
    const store = redisStore();
    expect((await run(store, key, rule, 3)).map((d) => d.allowed)).toEqual([true, true, false]);
    // A refused request changes nothing, so asking until one is allowed is waiting for Redis's clock to move
    // on by one interval: then exactly one is allowed, and the next, asked at once, is refused again.
    await until(async () => (await store.consume(key, rule)).allowed, 'Redis to allow the next request', 5_000, 20);
    expect(await store.consume(key, rule)).toMatchObject({ allowed: false, remaining: 0 });
    const client = new Redis(redis.url);
    const ttl = await client.pttl(KEY_PREFIX + key);
    client.disconnect();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(400);
  });

  it('gives two instances (two clients) one budget', async () => {
    const [a, b] = [redisStore(), redisStore()];
    const key = randomUUID();
    const decisions: RateDecision[] = [];
    for (let i = 0; i < 10; i++) decisions.push(await (i % 2 === 0 ? a : b).consume(key, RULE));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false, false, false]);
  });

  it('answers 200 parallel calls on one key, from two clients, with exactly burst + 1 allowed', async () => {
    const [a, b] = [redisStore(), redisStore()];
    const key = randomUUID();
    const decisions = await Promise.all(Array.from({ length: 200 }, (_v, i) => (i % 2 === 0 ? a : b).consume(key, RULE)));
    expect(allowedIn(decisions)).toBe(5);
  });
});
