import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../src/security/rateLimit/limiter.js';
import type { RateLimiter } from '../src/security/rateLimit/limiter.js';
import type { RateDecision } from '../src/security/rateLimit/types.js';
import { freePort, startRedisServer } from './support/redis.js';
import type { RedisServer } from './support/redis.js';
import { until } from './support/wait.js';

const TIMEOUT_MS = 250;
/** 60 per minute, 5 at once: one request per second. */
const CONFIG = { ipPerMin: 60, sessionPerMin: 20, burst: 4, warmupPerHour: 20, maxKeys: 1000, redisTimeoutMs: TIMEOUT_MS };
/**
 * A test with a hung Redis fails at this deadline if a call waits for it
 * instead of the 250 ms command timeout (eight calls take 2 s at most when
 * every one of them times out). How long each call takes is measured by
 * `npm run bench -- ratelimit` (failover).
 */
const HUNG_TEST_TIMEOUT_MS = 30_000;

interface Logged { level: 'info' | 'warn'; details: object; message: string }

function limiterOn(url: string): { limiter: RateLimiter; logged: Logged[]; states: string[] } {
  const logged: Logged[] = [];
  const states: string[] = [];
  const log = {
    info: (details: object, message: string) => void logged.push({ level: 'info', details, message }),
    warn: (details: object, message: string) => void logged.push({ level: 'warn', details, message }),
  };
  const limiter = createRateLimiter({ ...CONFIG, redisUrl: url }, { log, onStateChange: (backend) => void states.push(backend) });
  return { limiter, logged, states };
}

/** Charges `count` times, one after the other, and returns the decisions (every call must decide). */
async function charges(limiter: RateLimiter, subject: string, count: number): Promise<RateDecision[]> {
  const out: RateDecision[] = [];
  for (let i = 0; i < count; i++) {
    const decision = await limiter.charge('ip', subject);
    expect(decision).toBeDefined();
    out.push(decision!);
  }
  return out;
}

/** Charges a fresh subject until the limiter is back on Redis (its probe runs at most once a second). */
const backOnRedis = (limiter: RateLimiter): Promise<void> => until(async () => {
  await limiter.charge('ip', randomUUID());
  return limiter.stats().backend === 'redis';
}, 'the limiter to switch back to Redis', 10_000, 50);

const allowedIn = (decisions: RateDecision[]): number => decisions.filter((d) => d.allowed).length;

describe('Redis lost mid-traffic (its own redis-server, never the shared one)', () => {
  let server: RedisServer;
  const limiters: RateLimiter[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(limiters.map((limiter) => limiter.close()));
    await (server as RedisServer | undefined)?.close();
  });

  it('keeps limiting from memory when Redis is killed, logs and counts it once, and switches back when it returns', async () => {
    const { limiter, logged, states } = limiterOn(server.url);
    limiters.push(limiter);
    const spender = randomUUID();
    expect(allowedIn(await charges(limiter, spender, 3))).toBe(3);
    expect(limiter.stats()).toMatchObject({ backend: 'redis', failovers: 0, fallbackDecisions: 0 });

    await server.kill();
    // The client that spent 3 of 5 in Redis does not get a fresh budget: memory mirrored Redis's state.
    const spent = await charges(limiter, spender, 10);
    expect(allowedIn(spent)).toBeGreaterThanOrEqual(2);
    expect(allowedIn(spent)).toBeLessThanOrEqual(3);
    // A new client gets burst + 1 from memory, then is refused: limited, not unlimited.
    const fresh = await charges(limiter, randomUUID(), 10);
    expect(fresh.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false, false, false]);
    expect(fresh[9]).toMatchObject({ remaining: 0, retryAfterS: 1 });

    const warnings = logged.filter((entry) => entry.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/Redis unavailable/);
    expect(warnings[0]!.details).toHaveProperty('reason');
    expect(limiter.stats()).toMatchObject({ backend: 'memory', failovers: 1, fallbackDecisions: 20 });
    expect(limiter.stats().rejected.ip).toBeGreaterThanOrEqual(12);

    await server.restart();
    await backOnRedis(limiter);
    expect(logged.filter((entry) => entry.level === 'info' && /Redis answers again/.test(entry.message))).toHaveLength(1);
    expect(states).toEqual(['memory', 'redis']);
    const fallbackBefore = limiter.stats().fallbackDecisions;

    // Back on Redis: a second instance sees the first one's charges again.
    const other = limiterOn(server.url);
    limiters.push(other.limiter);
    const shared = randomUUID();
    await charges(limiter, shared, 3);
    expect(await other.limiter.charge('ip', shared)).toMatchObject({ allowed: true, remaining: 1 });
    expect(limiter.stats()).toMatchObject({ backend: 'redis', failovers: 1, fallbackDecisions: fallbackBefore });
  });

  it('bounds every call by the timeout when Redis hangs (SIGSTOP), and recovers when it resumes', async () => {
    const { limiter, logged } = limiterOn(server.url);
    limiters.push(limiter);
    expect((await limiter.charge('ip', randomUUID()))?.allowed).toBe(true);
    server.pause();
    try {
      const decisions = await charges(limiter, randomUUID(), 8);
      expect(allowedIn(decisions)).toBe(5);
      // The first call gave up on the command timeout (not a refused connection: the process is there, stopped)...
      expect(logged.filter((entry) => entry.level === 'warn')).toHaveLength(1);
      expect(JSON.stringify(logged[0]!.details)).toMatch(/timed out/i);
      // ...and decided from memory, as did the seven after it, which never waited for Redis at all.
      expect(limiter.stats()).toMatchObject({ backend: 'memory', failovers: 1, fallbackDecisions: 8 });
    } finally {
      server.resume();
    }
    await backOnRedis(limiter);
  }, HUNG_TEST_TIMEOUT_MS);
});

describe('Redis unreachable from the start', () => {
  it('decides from memory at once and logs one warning', async () => {
    const { limiter, logged } = limiterOn(`redis://127.0.0.1:${await freePort()}`);
    try {
      const decisions = await charges(limiter, 'client', 8);
      expect(allowedIn(decisions)).toBe(5);
      expect(limiter.stats()).toMatchObject({ backend: 'memory', failovers: 1, fallbackDecisions: 8, rejected: { ip: 3 } });
      expect(logged.filter((entry) => entry.level === 'warn')).toHaveLength(1);
    } finally {
      await limiter.close();
    }
  });
});
