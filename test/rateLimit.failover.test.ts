import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../src/security/rateLimit/limiter.js';
import type { RateLimiter } from '../src/security/rateLimit/limiter.js';
import type { RateDecision } from '../src/security/rateLimit/types.js';
import { freePort, startRedisServer } from './support/redis.js';
import type { RedisServer } from './support/redis.js';

const TIMEOUT_MS = 250;
/** Scheduling slack on a busy CI machine on top of the Redis timeout. */
const SLACK_MS = 150;
/** 60 per minute, 5 at once: one request per second. */
const CONFIG = { ipPerMin: 60, sessionPerMin: 20, burst: 4, warmupPerHour: 20, maxKeys: 1000, redisTimeoutMs: TIMEOUT_MS };

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

/** Charges `count` times, each within the Redis timeout (plus slack), and returns the decisions. */
async function timedCharges(limiter: RateLimiter, subject: string, count: number): Promise<RateDecision[]> {
  const out: RateDecision[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const decision = await limiter.charge('ip', subject);
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    out.push(decision!);
  }
  return out;
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

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
    expect(allowedIn(await timedCharges(limiter, spender, 3))).toBe(3);
    expect(limiter.stats()).toMatchObject({ backend: 'redis', failovers: 0, fallbackDecisions: 0 });

    await server.kill();
    // The client that spent 3 of 5 in Redis does not get a fresh budget: memory mirrored Redis's state.
    const spent = await timedCharges(limiter, spender, 10);
    expect(allowedIn(spent)).toBeGreaterThanOrEqual(2);
    expect(allowedIn(spent)).toBeLessThanOrEqual(3);
    // A new client gets burst + 1 from memory, then is refused: limited, not unlimited.
    const fresh = await timedCharges(limiter, randomUUID(), 10);
    expect(fresh.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false, false, false]);
    expect(fresh[9]).toMatchObject({ remaining: 0, retryAfterS: 1 });

    const warnings = logged.filter((entry) => entry.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/Redis unavailable/);
    expect(warnings[0]!.details).toHaveProperty('reason');
    expect(limiter.stats()).toMatchObject({ backend: 'memory', failovers: 1, fallbackDecisions: 20 });
    expect(limiter.stats().rejected.ip).toBeGreaterThanOrEqual(12);

    await server.restart();
    await until(async () => {
      await limiter.charge('ip', randomUUID());
      return limiter.stats().backend === 'redis';
    }, 10_000);
    expect(logged.filter((entry) => entry.level === 'info' && /Redis answers again/.test(entry.message))).toHaveLength(1);
    expect(states).toEqual(['memory', 'redis']);
    const fallbackBefore = limiter.stats().fallbackDecisions;

    // Back on Redis: a second instance sees the first one's charges again.
    const other = limiterOn(server.url);
    limiters.push(other.limiter);
    const shared = randomUUID();
    await timedCharges(limiter, shared, 3);
    expect(await other.limiter.charge('ip', shared)).toMatchObject({ allowed: true, remaining: 1 });
    expect(limiter.stats()).toMatchObject({ backend: 'redis', failovers: 1, fallbackDecisions: fallbackBefore });
  });

  it('bounds every call by the timeout when Redis hangs (SIGSTOP), and recovers when it resumes', async () => {
    const { limiter, logged } = limiterOn(server.url);
    limiters.push(limiter);
    expect((await limiter.charge('ip', randomUUID()))?.allowed).toBe(true);
    server.pause();
    try {
      const decisions = await timedCharges(limiter, randomUUID(), 8);
      expect(allowedIn(decisions)).toBe(5);
      expect(limiter.stats()).toMatchObject({ backend: 'memory', failovers: 1 });
      expect(logged.filter((entry) => entry.level === 'warn')).toHaveLength(1);
      expect(JSON.stringify(logged[0]!.details)).toMatch(/timed out/i);
    } finally {
      server.resume();
    }
    await until(async () => {
      await limiter.charge('ip', randomUUID());
      return limiter.stats().backend === 'redis';
    }, 10_000);
  });
});

describe('Redis unreachable from the start', () => {
  it('decides from memory at once and logs one warning', async () => {
    const { limiter, logged } = limiterOn(`redis://127.0.0.1:${await freePort()}`);
    try {
      const decisions = await timedCharges(limiter, 'client', 8);
      expect(allowedIn(decisions)).toBe(5);
      expect(limiter.stats()).toMatchObject({ backend: 'memory', failovers: 1, fallbackDecisions: 8, rejected: { ip: 3 } });
      expect(logged.filter((entry) => entry.level === 'warn')).toHaveLength(1);
    } finally {
      await limiter.close();
    }
  });
});
