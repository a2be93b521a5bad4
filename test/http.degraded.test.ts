import { once } from 'node:events';
import { createServer as createNetServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import type { PetcutApp } from '../src/app.js';
import { loadServiceConfig } from '../src/config.js';
import type { Engine } from '../src/engine/engine.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPetcutError, PetcutError } from '../src/errors.js';
import { circuitStore, REPROBE_MS } from '../src/storage/circuit.js';
import { createFsStore } from '../src/storage/fsStore.js';
import type { ObjectStore } from '../src/storage/store.js';
import { createS3Store } from '../src/storage/s3Store.js';
import { expectError, form, OPERATOR_KEYS, photo, startEngine } from './support/app.js';
import { testEnv } from './support/env.js';
import { startS3Server } from './support/s3Server.js';
import type { S3TestServer } from './support/s3Server.js';
import { until } from './support/wait.js';

/**
 * Graceful degradation (plan section 8, risk 4) against a real S3 server
 * (s3rver) behind a loopback TCP relay: "storage down" is the relay closing
 * its port and cutting every connection (what a client sees of an outage:
 * connection refused), "back up" is the relay listening on the same port
 * again. The S3 adapter and the AWS SDK are the production ones.
 */

/** A TCP relay to `target` on a fixed port, which can be taken down and brought back. */
interface Relay { readonly port: number; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> }

async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const make = (): Server => createNetServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream).pipe(client);
  });
  let server = make();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const down = async (): Promise<void> => {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    port,
    down,
    async up() {
      server = make();
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    close: async () => { if (server.listening) await down(); },
  };
}

let engine: Engine;
let s3: S3TestServer;
let relay: Relay;
let app: PetcutApp;

beforeAll(async () => {
  engine = await startEngine();
  s3 = await startS3Server();
  relay = await startRelay(Number(new URL(s3.endpoint).port));
  const store = createS3Store({
    bucket: s3.bucket, endpoint: `http://127.0.0.1:${relay.port}`, forcePathStyle: true, region: 'us-east-1', credentials: s3.credentials,
    requestTimeoutMs: 3000, maxRetries: 1,
  });
  const config = loadServiceConfig(testEnv({
    PETCUT_LOG_LEVEL: 'silent', PETCUT_SWEEP_INTERVAL_S: '0', PETCUT_OPERATOR_KEYS: OPERATOR_KEYS, PETCUT_COST_LEDGER: 'off',
    PETCUT_RATE_LIMIT_IP_PER_MIN: '0', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '0', PETCUT_UPLOADS_PER_ADDRESS: '0', PETCUT_ADMISSION_DEADLINE_S: '0',
  }));
  app = await createApp(config, { engine, store, logger: false });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await relay?.close();
  await s3?.close();
  await engine?.close();
});

/** A sample's value in /metrics text (0 when absent). */
async function sample(name: string, labels = ''): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}` : ''}`) && (labels || /^\S+ /.test(l)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
const modelRuns = (): Promise<number> => sample('petcut_processing_stage_duration_seconds_count', 'stage="segmentation"');

const SESSION = { 'x-session-id': 'degraded-session-1' };

describe('storage down: cached cut-outs are served, new work is refused', () => {
  let known: Buffer;
  let before: Buffer;
  let compatBefore: Buffer;

  it('warms the cache with storage up (the session copy is stored)', async () => {
    known = await photo(240, 180, 'jpeg', 3);
    const first = await app.inject({ method: 'POST', url: '/v1/cutouts', headers: SESSION, payload: form([{ data: known }]) });
    expect(first.statusCode, first.body.slice(0, 200)).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['x-petcut-degraded']).toBeUndefined();
    before = first.rawPayload;
    const compat = await app.inject({ method: 'POST', url: '/remove-background', payload: form([{ data: known, field: 'file' }]) });
    expect(compat.statusCode).toBe(200);
    compatBefore = compat.rawPayload;
    expect(await sample('petcut_storage_up')).toBe(1);
    expect((await app.petcut.sessions.list('degraded-session-1')).length).toBe(2);
  });

  it('serves the same photo from the memory cache, flagged, while the session copy cannot be stored', async () => {
    await relay.down();
    const runs = await modelRuns();
    const again = await app.inject({ method: 'POST', url: '/v1/cutouts', headers: SESSION, payload: form([{ data: known }]) });
    expect(again.statusCode, again.body.slice(0, 300)).toBe(200);
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.headers['x-petcut-degraded']).toBe('storage');
    expect(again.rawPayload.equals(before)).toBe(true);
    // The failed session copy, confirmed by a failed ping, opens the circuit.
    await until(() => !app.petcut.storageHealth.up(), 'the circuit to open', 20_000);
    const compat = await app.inject({ method: 'POST', url: '/remove-background', payload: form([{ data: known, field: 'file' }]) });
    expect(compat.statusCode).toBe(200);
    expect(compat.headers['x-petcut-degraded']).toBe('storage');
    expect(compat.rawPayload.equals(compatBefore)).toBe(true);
    // JSON without a session copy: links into the result cache (answered from memory), marked degraded.
    const json = await app.inject({ method: 'POST', url: '/v1/cutouts', headers: { ...SESSION, accept: 'application/json' }, payload: form([{ data: known }]) });
    expect(json.statusCode).toBe(200);
    const body = JSON.parse(json.body) as { degraded?: string; results: Array<{ url: string; imageId?: string }> };
    expect(body.degraded).toBe('storage');
    expect(body.results[0]!.imageId).toBeUndefined();
    const linked = await app.inject({ method: 'GET', url: new URL(body.results[0]!.url, 'http://x').pathname });
    expect(linked.statusCode).toBe(200);
    expect(linked.rawPayload.equals(before)).toBe(true);
    expect(await modelRuns()).toBe(runs);
    expect(await sample('petcut_degraded_responses_total', 'route="/v1/cutouts"')).toBe(2);
    expect(await sample('petcut_degraded_responses_total', 'route="/remove-background"')).toBe(1);
  });

  it('refuses a new photo (and any job) with 503 PETCUT_E_STORAGE_UNAVAILABLE and Retry-After, before the model runs', async () => {
    const runs = await modelRuns();
    const fresh = await photo(240, 180, 'jpeg', 25);
    const started = performance.now();
    // A job is refused before its 202 (its results would live in the store), even for a cached photo.
    for (const [url, field, data] of [['/v1/cutouts', 'image', fresh], ['/remove-background', 'file', fresh], ['/api/v2/process-with-effects?effects=color', 'file', fresh], ['/v1/jobs', 'image', known]] as const) {
      const refused = await app.inject({ method: 'POST', url, payload: form([{ data, field }]) });
      expect(refused.statusCode, `${url}: ${refused.body.slice(0, 200)}`).toBe(503);
      expect(Number(refused.headers['retry-after'])).toBe(Math.ceil(REPROBE_MS / 1000));
      const code = url.startsWith('/v1/') ? expectError(refused, 503, 'PETCUT_E_STORAGE_UNAVAILABLE').error.code : (JSON.parse(refused.body) as { code: string }).code;
      expect(code).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    }
    // A refusal does not wait out SDK timeouts: the circuit answers at once (generous for a loaded machine).
    expect(performance.now() - started).toBeLessThan(2 * 3000);
    expect(await modelRuns()).toBe(runs);
  });

  it('shows storage down in /health and /metrics', async () => {
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(503);
    const storage = (JSON.parse(health.body) as { storage: { kind: string; reachable: boolean; degraded: boolean; downSince: string } }).storage;
    expect(storage).toMatchObject({ kind: 's3', reachable: false, degraded: true });
    expect(Date.parse(storage.downSince)).toBeLessThanOrEqual(Date.now());
    expect(await sample('petcut_storage_up')).toBe(0);
  });

  it('takes new work again once the background probe finds storage back', async () => {
    await relay.up();
    await until(() => app.petcut.storageHealth.up(), 'the circuit to close', REPROBE_MS * 4);
    expect(app.petcut.storageHealth.state().probes).toBeGreaterThanOrEqual(1);
    const runs = await modelRuns();
    const fresh = await photo(240, 180, 'jpeg', 25);
    const done = await app.inject({ method: 'POST', url: '/v1/cutouts', headers: SESSION, payload: form([{ data: fresh }]) });
    expect(done.statusCode, done.body.slice(0, 200)).toBe(200);
    expect(done.headers['x-cache']).toBe('MISS');
    expect(done.headers['x-petcut-degraded']).toBeUndefined();
    expect(await modelRuns()).toBe(runs + 1);
    expect((await app.petcut.sessions.list('degraded-session-1')).length).toBe(4);
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect((JSON.parse(health.body) as { storage: { reachable: boolean } }).storage.reachable).toBe(true);
    expect(await sample('petcut_storage_up')).toBe(1);
  });
});

describe('the circuit on its own (local disk, a store whose calls fail on demand)', () => {
  let dir: string;
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'petcut-circuit-'))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  function flaky(failing: { puts: boolean; pings: boolean }): ObjectStore {
    const store = createFsStore({ root: dir });
    const down = (): never => { throw new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE'); };
    return { ...store, name: store.name, put: async (...args) => (failing.puts ? down() : store.put(...args)), ping: async () => (failing.pings ? down() : store.ping()) };
  }
  const codeOf = (promise: Promise<unknown>): Promise<string> => promise.then(() => 'resolved', (e: unknown) => (isPetcutError(e) ? e.code : String(e)));

  it('a failed write whose ping succeeds leaves it closed; a missing object never counts', async () => {
    const failing = { puts: true, pings: false };
    const { store, health } = circuitStore(flaky(failing), { reprobeMs: 50 });
    expect(await codeOf(store.put('a/b.txt', Buffer.from('x'), { contentType: 'text/plain' }))).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    expect(await codeOf(store.get('a/missing.txt'))).toBe('resolved');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(health.up()).toBe(true);
    health.close();
  });

  it('a failed write confirmed by a failed ping opens it: calls fail at once with Retry-After, the probe closes it', async () => {
    const failing = { puts: true, pings: true };
    const changes: boolean[] = [];
    const { store, health } = circuitStore(flaky(failing), { reprobeMs: 50, onChange: (up) => changes.push(up) });
    await codeOf(store.put('a/b.txt', Buffer.from('x'), { contentType: 'text/plain' }));
    await until(() => !health.up(), 'the circuit to open', 5000);
    const refused: unknown = await store.get('a/b.txt').catch((e: unknown) => e);
    expect(isPetcutError(refused) && refused.code === 'PETCUT_E_STORAGE_UNAVAILABLE' && refused.retryAfterS).toBe(1);
    expect(() => health.require()).toThrow(PetcutError);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(health.up()).toBe(false);
    expect(health.state().probes).toBeGreaterThanOrEqual(2);
    failing.pings = false;
    failing.puts = false;
    await until(() => health.up(), 'the circuit to close', 5000);
    expect(await codeOf(store.put('a/b.txt', Buffer.from('x'), { contentType: 'text/plain' }))).toBe('resolved');
    expect(changes).toEqual([false, true]);
    health.close();
  });
});
