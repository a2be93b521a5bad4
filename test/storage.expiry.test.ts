import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import { createS3Store } from '../src/storage/s3Store.js';
import { buildApp, DAY_MS } from './support/app.js';
import type { TestApp } from './support/app.js';
import { startS3Server } from './support/s3Server.js';
import type { S3TestServer } from './support/s3Server.js';
import { until } from './support/wait.js';

/**
 * Who deletes expired images. Local disk: the service's sweep. A bucket:
 * its lifecycle rules, applied at start-up. A bucket on a server without
 * lifecycle rules (s3rver, the real one here, answers NotImplemented, as some
 * S3-compatible servers do) used to get neither, keeping every shopper's
 * photo forever: it now gets the sweep, and the log says so.
 */
let server: S3TestServer;
let built: TestApp;
let now = Date.now();
const logs: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  server = await startS3Server();
  const s3 = createS3Store({ bucket: server.bucket, endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: server.credentials });
  const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => { for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>); done(); } });
  // No model needed: the engine never loads.
  built = await buildApp(new Promise<Engine>(() => undefined), {
    wrapStore: () => s3, clock: () => new Date(now), env: { PETCUT_SWEEP_INTERVAL_S: '1' }, logger: { level: 'info', stream },
  });
});
afterAll(async () => {
  await built?.app.close();
  await server?.close();
});

describe('expiry on a bucket without lifecycle rules', () => {
  it('a bucket store does not sweep until the bucket says it has no lifecycle rules', () => {
    expect(built.app.sweeping()).toBe(false);
  });

  it('applyLifecycle finds none, turns the sweep on and warns; the sweep then deletes what expired', async () => {
    const rules = built.app.petcut.sessions.expiryRules();
    const shortest = rules.reduce((a, b) => (a.days <= b.days ? a : b));
    const longest = rules.reduce((a, b) => (a.days >= b.days ? a : b));
    await built.store.put(`${shortest.prefix}old-session/photo.png`, Buffer.from('expired'), { contentType: 'image/png' });
    await built.store.put(`${longest.prefix}kept-session/photo.png`, Buffer.from('kept'), { contentType: 'image/png' });

    expect(await built.app.applyLifecycle()).toBe('not-supported');
    expect(built.app.sweeping()).toBe(true);
    expect(logs.find((line) => line.message === 'the bucket has no lifecycle rules: the service deletes expired images itself')).toMatchObject({ severity: 'WARNING', sweepIntervalS: 1 });

    // Past the shortest tier's lifetime, inside the longest's: one goes, the other stays.
    now += (shortest.days + 0.5) * DAY_MS;
    expect(longest.days).toBeGreaterThan(shortest.days + 0.5);
    await until(async () => (await built.store.head(`${shortest.prefix}old-session/photo.png`)) === null, 'the sweep to delete the expired image', 10_000, 100);
    expect(await built.store.head(`${longest.prefix}kept-session/photo.png`)).not.toBeNull();
  });
});
