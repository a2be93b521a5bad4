import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisSharedState } from '../src/service/redisSharedState.js';
import { createProgressBus } from '../src/service/sharedState.js';
import type { SharedState } from '../src/service/sharedState.js';
import { sharedRedis, startRedisServer } from './support/redis.js';
import type { RedisServer } from './support/redis.js';
import { until } from './support/wait.js';

/**
 * The shared job state's Redis adapter and the session progress bus, against
 * a real Redis (the shared one; the outage case kills a Redis of its own).
 */
interface Logged { readonly level: 'warn' | 'info'; readonly message: string }

function recorder(): { log: { warn(f: object, m: string): void; info(f: object, m: string): void }; lines: Logged[]; errors: string[] } {
  const lines: Logged[] = [];
  const errors: string[] = [];
  return { lines, errors, log: { warn: (_f, message) => lines.push({ level: 'warn', message }), info: (_f, message) => lines.push({ level: 'info', message }) } };
}

let redis: { url: string; close(): Promise<void> };
const opened: SharedState[] = [];
const open = (url: string, rec = recorder()): SharedState => {
  const state = createRedisSharedState({ url, timeoutMs: 500, log: rec.log, onError: (op) => rec.errors.push(op) });
  opened.push(state);
  return state;
};

beforeAll(async () => {
  redis = await sharedRedis();
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await redis.close();
});

describe('the Redis shared state', () => {
  it('put writes the record with its expiry and publishes it in one round trip; a subscriber hears it; get reads it', async () => {
    const a = open(redis.url);
    const b = open(redis.url);
    const key = `petcut:jobs:test-${Date.now()}`;
    const heard: string[] = [];
    const unsubscribe = await b.subscribe(`${key}:events`, (m) => heard.push(m));
    const before = a.roundTrips();
    await a.put(key, '{"seq":1}', 300, `${key}:events`, '{"seq":1}');
    expect(a.roundTrips() - before).toBe(1);
    expect(await b.get(key)).toBe('{"seq":1}');
    await until(() => heard.length === 1, 'the message');
    expect(heard).toEqual(['{"seq":1}']);
    unsubscribe();
    await a.publish(`${key}:events`, 'after');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heard).toEqual(['{"seq":1}']);
    // The expiry is the job TTL: gone after it.
    await until(async () => (await b.get(key)) === undefined, 'the record to expire', 5000, 50);
    expect(a.up() && b.up()).toBe(true);
  });

  it('the progress bus: each listener hears a message once, on its own instance and on the other', async () => {
    const a = createProgressBus(open(redis.url), 'instance-a', 'petcut:jobs:session:');
    const b = createProgressBus(open(redis.url), 'instance-b', 'petcut:jobs:session:');
    const name = `bus-${Date.now()}`;
    const onA: unknown[] = [];
    const onB: unknown[] = [];
    await a.subscribe(name, (m) => onA.push(m));
    const offB = await b.subscribe(name, (m) => onB.push(m));
    a.publish(name, { n: 1 });
    b.publish(name, { n: 2 });
    await until(() => onA.length === 2 && onB.length === 2, 'both messages on both instances');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(onA).toHaveLength(2);
    expect(onB).toEqual(expect.arrayContaining([{ n: 1 }, { n: 2 }]));
    expect(onB).toHaveLength(2);
    offB();
    a.publish(name, { n: 3 });
    await until(() => onA.length === 3, 'the third on A');
    expect(onB).toHaveLength(2);
  });
});

describe('Redis lost and back', () => {
  let own: RedisServer;
  beforeAll(async () => {
    own = await startRedisServer();
  });
  afterAll(async () => {
    await own.close();
  });

  it('calls fail fast while it is away, one warning for the outage, errors counted per call; up again once it answers', async () => {
    const rec = recorder();
    const state = open(own.url, rec);
    await state.put('petcut:jobs:x', '1', 10_000, 'petcut:jobs:events:x', '1');
    expect(state.up()).toBe(true);
    await own.kill();
    await until(() => !state.up(), 'the outage noticed');
    const started = Date.now();
    for (let i = 0; i < 5; i++) await expect(state.get('petcut:jobs:x')).rejects.toThrow();
    // No offline queue: a request never waits on a Redis that is gone.
    expect(Date.now() - started).toBeLessThan(500);
    expect(rec.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(rec.errors.filter((op) => op === 'get')).toHaveLength(5);
    // A bus without Redis is this instance's own.
    const bus = createProgressBus(state, 'instance-a', 'petcut:jobs:session:');
    const heard: unknown[] = [];
    await bus.subscribe('s', (m) => heard.push(m));
    bus.publish('s', 'local');
    expect(heard).toEqual(['local']);
    await own.restart();
    await until(() => state.up(), 'Redis back', 10_000, 20);
    expect(rec.lines.at(-1)).toEqual({ level: 'info', message: 'shared job state: Redis answers again, new jobs are shared again' });
    // Nothing was saved (a restarted, empty Redis), and calls work again.
    expect(await state.get('petcut:jobs:x')).toBeUndefined();
  });
});
