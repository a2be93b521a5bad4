import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { loadServiceConfig } from '../src/config.js';
import { createStore } from '../src/storage/index.js';
import { FORMAT_SPELLINGS } from '../src/image/formats.js';
import type { Message } from './support/app.js';
import { buildApp, DAY_MS, expectError, form, listen, OPERATOR, OPERATOR_KEYS, photo, Probe, startEngine } from './support/app.js';

/**
 * The smaller holes of issue #12 (item 8), the noise a new user met, and
 * failure paths no test walked before: internals in error bodies, framework
 * errors in our words, honest /health, who may read /metrics, URLs from a
 * client's Host header, log noise from probes, option errors that name the
 * option, a pipeline worker dying mid-job, expiry on an injected clock.
 */
let engine: Engine;
let image: Buffer;

beforeAll(async () => {
  engine = await startEngine();
  image = await photo(96, 72, 'jpeg');
});
afterAll(async () => {
  await engine?.close();
});

/** A 1 MB tmpfs filled to the brim (root only; undefined where mounting is not allowed). */
function fullDisk(): { dir: string; fill(): void; unmount(): void } | undefined {
  const dir = join(tmpdir(), `petcut-full-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return {
    dir,
    fill: () => {
      try {
        writeFileSync(join(dir, 'filler'), Buffer.alloc(2 * 1024 * 1024));
      } catch { /* ENOSPC: full, as wanted */ }
    },
    unmount: () => execFileSync('umount', [dir], { stdio: 'ignore' }),
  };
}

describe('a full disk (item 8)', () => {
  const disk = fullDisk();
  it.skipIf(!disk)('the 503 says storage is full without system internals; /health probes a real write and says unreachable', async () => {
    const config = loadServiceConfig({ PETCUT_LOG_LEVEL: 'silent', PETCUT_SWEEP_INTERVAL_S: '0', PETCUT_COST_LEDGER: 'off', PETCUT_DATA_DIR: disk!.dir, PETCUT_RATE_LIMIT_IP_PER_MIN: '0' });
    const app = await createApp(config, { engine, store: createStore({ kind: 'fs', root: disk!.dir }), logger: false });
    try {
      expect((await app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ storage: { reachable: true } });
      disk!.fill();
      const refused = await app.inject({ method: 'POST', url: '/v1/sessions/full-disk-session/images', payload: form([{ data: image }]) });
      const body = expectError(refused, 503, 'PETCUT_E_STORAGE_UNAVAILABLE');
      expect(body.error.message).toMatch(/full/);
      expect(refused.body).not.toMatch(/ENOSPC|no space|\/tmp|petcut-full|write/i);
      expect(refused.headers['retry-after']).toBeDefined();
      const health = await app.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ status: 'degraded', storage: { reachable: false } });
      expect(health.body).not.toMatch(/ENOSPC|petcut-full/);
    } finally {
      await app.close();
      disk!.unmount();
    }
  });
});

describe('framework errors in our words (item 8)', () => {
  it('an over-long path segment is a coded 414 that does not echo the URL; a bad URL a coded 400', async () => {
    const { app } = await buildApp(engine);
    const long = 'a'.repeat(5000);
    const response = await app.inject({ method: 'GET', url: `/v1/results/${long}` });
    expectError(response, 414, 'PETCUT_E_URI_TOO_LONG');
    expect(response.body).not.toContain(long.slice(0, 200));
    expect(response.body).not.toMatch(/FST_/);
    const bad = await app.inject({ method: 'GET', url: '/v1/effects/%E0%A4%A/preview.png' });
    expectError(bad, 400, 'PETCUT_E_BAD_REQUEST');
    await app.close();
  });

  it('the webhook\'s body limit is named as it is (1 MB), not the upload limit', async () => {
    const { app } = await buildApp(engine, { env: { PETCUT_SHOPIFY_API_SECRET: 'hush' } });
    const response = await app.inject({ method: 'POST', url: '/v1/webhooks/shopify', headers: { 'content-type': 'application/json' }, payload: Buffer.alloc(2 * 1024 * 1024, 0x20) });
    const body = expectError(response, 413, 'PETCUT_E_PAYLOAD_TOO_LARGE');
    expect(body.error.message).toMatch(/1 MB/);
    expect(body.error.message).not.toMatch(/30 MB/);
    await app.close();
  });

  it('an unknown option is named, and a bad value lists what is allowed', async () => {
    const { app } = await buildApp(engine);
    const unknown = expectError(await app.inject({ method: 'POST', url: '/v1/cutouts?sizee=preview', payload: form([{ data: image }]) }), 400, 'PETCUT_E_INVALID_OPTION');
    expect(unknown.error.message).toMatch(/"sizee"/);
    const format = expectError(await app.inject({ method: 'POST', url: '/v1/cutouts?format=no-such-format', payload: form([{ data: image }]) }), 400, 'PETCUT_E_INVALID_OPTION');
    expect(format.error.message).toContain(`"format"`);
    for (const spelling of FORMAT_SPELLINGS) expect(format.error.message).toContain(spelling);
    const quality = expectError(await app.inject({ method: 'POST', url: '/v1/cutouts?quality=500', payload: form([{ data: image }]) }), 400, 'PETCUT_E_INVALID_OPTION');
    expect(quality.error.message).toMatch(/"quality".*at most 100/);
    await app.close();
  });
});

describe('who reads /metrics (item 8)', () => {
  it('loopback scrapers and operator keys only; PETCUT_METRICS_ALLOWED_IPS moves the line', async () => {
    const { app } = await buildApp(engine);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    expectError(await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '198.51.100.9' }), 401, 'PETCUT_E_UNAUTHORIZED');
    expect((await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '198.51.100.9', headers: OPERATOR })).statusCode).toBe(200);
    await app.close();
    const scraper = (await buildApp(engine, { env: { PETCUT_METRICS_ALLOWED_IPS: '10.0.0.0/8' } })).app;
    expect((await scraper.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.1.2.3' })).statusCode).toBe(200);
    expect((await scraper.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    await scraper.close();
  });
});

describe('absolute URLs are never built from a client\'s Host header (item 8)', () => {
  const urlOf = async (env: Record<string, string>, headers: Record<string, string>): Promise<string> => {
    const { app } = await buildApp(engine, { env });
    const response = await app.inject({ method: 'GET', url: '/v1/effects', headers });
    await app.close();
    return response.json<{ effects: Array<{ previewUrl: string }> }>().effects[0]!.previewUrl;
  };

  it('a foreign Host without a trusted proxy gives a bare path; localhost, a trusted proxy or PETCUT_PUBLIC_URL give absolute URLs', async () => {
    expect(await urlOf({}, { host: 'evil.example' })).toBe('/v1/effects/color/preview.png');
    expect(await urlOf({}, { host: 'localhost:8080' })).toBe('http://localhost:8080/v1/effects/color/preview.png');
    expect(await urlOf({ PETCUT_TRUSTED_PROXIES: '1' }, { host: 'internal:8080', 'x-forwarded-host': 'pets.example', 'x-forwarded-proto': 'https' })).toBe('https://pets.example/v1/effects/color/preview.png');
    // A proxy list: only a listed peer's host is believed (inject's peer is 127.0.0.1).
    expect(await urlOf({ PETCUT_TRUSTED_PROXIES: '10.0.0.0/8' }, { host: 'evil.example' })).toBe('/v1/effects/color/preview.png');
    expect(await urlOf({ PETCUT_PUBLIC_URL: 'https://api.pets.example' }, { host: 'evil.example' })).toBe('https://api.pets.example/v1/effects/color/preview.png');
  });
});

describe('noise (item 8 and the new user\'s list)', () => {
  it('probes while the model loads answer 503 without a warning or a stack in the log', async () => {
    const lines: string[] = [];
    const logger = { level: 'info', stream: new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString()); done(); } }) };
    const loading = new Promise<Engine>(() => undefined);
    const { app } = await buildApp(loading, { logger });
    for (let i = 0; i < 26; i++) expectError(await app.inject({ method: 'GET', url: '/readyz' }), 503, 'PETCUT_E_NOT_READY');
    await app.close();
    const loud = lines.filter((line) => /"level":(40|50|60)/.test(line) && !/No authentication configured/.test(line));
    expect(loud).toEqual([]);
    expect(lines.join('')).not.toMatch(/"stack"/);
  });

  it('a job\'s socket hears the store stage once per file', async () => {
    const { app } = await buildApp(engine);
    const base = await listen(app);
    const accepted = await app.inject({ method: 'POST', url: '/v1/jobs?size=48', payload: form([{ data: image }, { data: await photo(96, 72, 'jpeg', 5) }]) });
    const job = accepted.json<{ eventsUrl: string; id: string }>();
    const socket = new Probe(`${base.replace(/^http/, 'ws')}/v1/jobs/${job.id}/events`);
    // Up to 90 s: the file's first cut-outs may pay the engine's first runs, and the suite runs files side by side.
    await socket.next((m) => m.type === 'complete', 0, 90_000);
    const stores = socket.messages.filter((m: Message) => m.type === 'stage' && m.stage === 'store');
    expect(stores.map((m) => m.file)).toEqual([0, 1]);
    socket.close();
    await app.petcut.processing.drain();
    await app.close();
  });
});

describe('failure paths', () => {
  it('a pipeline worker dying mid-job: that file fails with a code, the worker is replaced, the next file and new work succeed, capacity returns', async () => {
    const { app } = await buildApp(engine, { env: { PETCUT_ADMISSION_DEADLINE_S: '0' } });
    const base = await listen(app);
    const big = await photo(2400, 1800, 'jpeg', 11);
    const accepted = await app.inject({ method: 'POST', url: '/v1/jobs?size=64', payload: form([{ data: big }, { data: await photo(96, 72, 'jpeg', 9) }]) });
    const job = accepted.json<{ id: string }>();
    const socket = new Probe(`${base.replace(/^http/, 'ws')}/v1/jobs/${job.id}/events`);
    await socket.next((m) => m.type === 'stage' && m.stage === 'segmentation');
    const before = engine.pipelineThreads();
    await Promise.all(before.map((worker) => worker.terminate()));
    const complete = await socket.next((m) => m.type === 'complete');
    expect(complete).toMatchObject({ status: 'succeeded', succeeded: 1, failed: 1 });
    const failed = socket.messages.find((m) => m.type === 'error');
    expect(failed).toMatchObject({ file: 0, code: 'PETCUT_E_INTERNAL' });
    expect(engine.pipelineThreads()).toHaveLength(before.length);
    expect(engine.pipelineThreads().some((worker) => before.includes(worker))).toBe(false);
    expect(app.petcut.capacity.status()).toMatchObject({ inFlight: 0, working: 0, uploadBytes: 0 });
    expect((await app.inject({ method: 'POST', url: '/v1/cutouts?size=48', payload: form([{ data: image }]) })).statusCode).toBe(200);
    socket.close();
    await app.petcut.processing.drain();
    await app.close();
  });

  it('job expiry and the periodic tier sweep follow the injected clock', async () => {
    // From the real now: the local store dates an object by its file's mtime (real time), so a fixed start date
    // made this test pass only within a day of it (it failed from 2026-12-02 12:00 on).
    let now = new Date();
    const { app } = await buildApp(engine, { clock: () => now, env: { PETCUT_JOB_TTL_S: '10', PETCUT_SWEEP_INTERVAL_S: '1', PETCUT_OPERATOR_KEYS: OPERATOR_KEYS } });
    const accepted = await app.inject({ method: 'POST', url: '/v1/jobs?size=48', headers: { 'x-session-id': 'expiring-session-1' }, payload: form([{ data: image }]) });
    const { id } = accepted.json<{ id: string }>();
    await app.petcut.jobs.drain();
    expect((await app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/sessions/expiring-session-1/images' })).json<{ images: unknown[] }>().images).toHaveLength(2);
    // Eleven seconds on: the job has outlived its TTL and the periodic sweeper (every second here) forgets it.
    now = new Date(now.getTime() + 11_000);
    await until(async () => (await app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).statusCode === 404, 'the job to expire');
    // Eight days on: the temporary tier's 7 days are over and the periodic sweep deletes the images.
    now = new Date(now.getTime() + 8 * DAY_MS);
    await until(async () => (await app.inject({ method: 'GET', url: '/v1/sessions/expiring-session-1/images' })).statusCode === 404, 'the sweep');
    await app.petcut.processing.drain();
    await app.close();
  });
});

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('no unbounded buffering anywhere (the same class as item 4)', () => {
  it('a JSON body is bounded before any route reads it: 413 past 64 KB on the token and order routes', async () => {
    const { app } = await buildApp(engine, { env: { PETCUT_JWT_SECRET: 'bounded-json-secret-at-least-32-characters' } });
    const big = JSON.stringify({ sessionId: 'x'.repeat(100_000) });
    for (const url of ['/v1/auth/token', '/v1/sessions/bounded-session-1/order']) {
      const response = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...OPERATOR }, payload: big });
      const body = expectError(response, 413, 'PETCUT_E_PAYLOAD_TOO_LARGE');
      expect(body.error.message).toMatch(/64 KB/);
    }
    await app.close();
  });
});
