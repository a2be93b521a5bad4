import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import type { MemoryReading } from '../src/observability/memory.js';
import type { ControlledStore, JobView } from './support/app.js';
import { buildApp, controlledStore, expectError, finishedJob, form, listen, photo, startEngine } from './support/app.js';
import { until } from './support/wait.js';

const MB = 1024 * 1024;
let engine: Engine;
let app: PetcutApp;
let dir: string;
let store: ControlledStore;
let base: string;
let pressure = false;
const memoryProbe = async (): Promise<MemoryReading> => ({ usedBytes: (pressure ? 950 : 300) * MB, limitBytes: 1000 * MB, source: 'cgroup-v2', rssBytes: 280 * MB });

beforeAll(async () => {
  engine = await startEngine();
  ({ app, dir } = await buildApp(engine, {
    env: { PETCUT_QUEUE_MAX: '0', PETCUT_CONCURRENCY: '2', PETCUT_RETRY_AFTER_S: '7' },
    wrapStore: (inner) => (store = controlledStore(inner)).store,
    memoryProbe,
  }));
  base = await listen(app);
});
afterAll(async () => {
  await app?.shutdown();
});

type Json = Record<string, unknown>;
const get = async (path: string) => app.inject({ method: 'GET', url: path });

describe('health', () => {
  it('/healthz, /readyz and /health report model, device, memory against the limit, queue and storage', async () => {
    expect((await get('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await get('/readyz')).json()).toEqual({ status: 'ready', model: engine.model.name, device: engine.runtime.device });
    const health = await get('/health');
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({
      status: 'ok',
      model: { name: engine.model.name, loaded: true, loadMs: expect.any(Number), inputSize: engine.model.inputSize },
      device: { kind: engine.runtime.device },
      memory: { usedMb: 300, limitMb: 1000, source: 'cgroup-v2', pressure: false, threshold: 0.9 },
      queue: { inFlight: 0, concurrency: 2, queued: 0, queueMax: 0, activeJobs: 0 },
      storage: { kind: 'fs', reachable: true },
    });
  });

  it('/health is 503 with storage.reachable false while storage is down', async () => {
    const restore = store.fail((op) => op === 'ping');
    try {
      const health = await get('/health');
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ status: 'degraded', storage: { kind: 'fs', reachable: false, error: expect.stringContaining('ECONNREFUSED') } });
    } finally {
      restore();
    }
    expect((await get('/health')).statusCode).toBe(200);
  });

  it('POST /warmup runs once; the second call is already warm', async () => {
    const first = await app.inject({ method: 'POST', url: '/warmup' });
    expect(first.json()).toMatchObject({ warm: true, alreadyWarm: false });
    expect((await app.inject({ method: 'POST', url: '/warmup' })).json()).toMatchObject({ warm: true, alreadyWarm: true });
    expect((await get('/health')).json()).toMatchObject({ warm: true });
  });

  it('/healthz answers while a 2000x1500 photo is processed', async () => {
    // Answers counted while the photo is in the engine: the event loop is free. How fast they come is
    // measured by `npm run bench -- service` (healthzDuringCutoutMs).
    const big = await photo(2000, 1500, 'jpeg');
    let settled = false;
    const work = fetch(`${base}/v1/cutouts`, { method: 'POST', body: form([{ data: big }]) }).finally(() => (settled = true));
    await until(() => engine.inFlight() > 0 || settled, 'the photo to reach the engine');
    let answeredWhileWorking = 0;
    while (!settled && engine.inFlight() > 0 && answeredWhileWorking < 5) {
      const response = await fetch(`${base}/healthz`);
      expect(response.status).toBe(200);
      if (!settled && engine.inFlight() > 0) answeredWhileWorking++;
    }
    expect(answeredWhileWorking, 'answers to /healthz while the photo was still in the engine').toBe(5);
    expect((await work).status).toBe(200);
  });
});

describe('capacity', () => {
  it('with room for 2 and no queue, 6 concurrent uploads give 200s and 503 PETCUT_E_OVERLOADED with Retry-After, nothing else', async () => {
    const photos = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => photo(640, 480, 'jpeg', 40 + i * 9)));
    const responses = await Promise.all(photos.map((data) => app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data }]) })));
    const ok = responses.filter((r) => r.statusCode === 200);
    const refused = responses.filter((r) => r.statusCode === 503);
    expect(ok.length + refused.length, responses.map((r) => r.statusCode).join(',')).toBe(6);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThanOrEqual(2);
    for (const r of refused) {
      expectError(r, 503, 'PETCUT_E_OVERLOADED');
      // From the drain rate (src/service/pace.ts), not the configured fallback: whole seconds, 1 to 60.
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(60);
    }
    for (const r of ok) expect(r.headers['content-type']).toBe('image/png');
    expect(app.petcut.capacity.status().inFlight).toBe(0);
    // A job reserves room for all its files before its 202; one that could never fit is refused outright.
    const tooBig = await app.inject({ method: 'POST', url: '/v1/jobs', payload: form(photos.slice(0, 3).map((data) => ({ data }))) });
    expect(expectError(tooBig, 400, 'PETCUT_E_BAD_REQUEST').error.message).toMatch(/at most 2/);
    const job = await app.inject({ method: 'POST', url: '/v1/jobs', payload: form(photos.slice(0, 2).map((data) => ({ data }))) });
    expect(job.statusCode).toBe(202);
    expect(app.petcut.capacity.status().inFlight).toBe(2);
    const meanwhile = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: photos[5]! }]) });
    expectError(meanwhile, 503, 'PETCUT_E_OVERLOADED');
    // One image over the bound, at the pace measured so far.
    const pace = app.petcut.capacity.status();
    expect(meanwhile.headers['retry-after']).toBe(String(Math.min(60, Math.max(1, Math.ceil(1 / pace.drainPerS)))));
    await app.petcut.jobs.drain();
    expect(app.petcut.capacity.status().inFlight).toBe(0);
  });

  it('memory above 90 % of the container limit: 503 PETCUT_E_MEMORY_PRESSURE until it drops', async () => {
    pressure = true;
    try {
      await app.petcut.capacity.refresh();
      const fresh = await photo(320, 240, 'jpeg', 77);
      const cutout = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: fresh }]) });
      expectError(cutout, 503, 'PETCUT_E_MEMORY_PRESSURE');
      expect(cutout.headers['retry-after']).toBe('7');
      expectError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: form([{ data: fresh }]) }), 503, 'PETCUT_E_MEMORY_PRESSURE');
      expect((await get('/health')).json()).toMatchObject({ memory: { usedMb: 950, limitMb: 1000, pressure: true } });
      expect((await get('/healthz')).statusCode).toBe(200);
    } finally {
      pressure = false;
    }
    await app.petcut.capacity.refresh();
    expect(app.petcut.capacity.status()).toMatchObject({ underPressure: false, inFlight: 0 });
  });
});

describe('storage failing', () => {
  it('during a job: the file fails with PETCUT_E_STORAGE_UNAVAILABLE, nothing is visible, the next job works', async () => {
    const data = await photo(320, 240, 'jpeg', 90);
    const restore = store.fail((op) => op === 'put');
    let job: JobView;
    try {
      const response = await app.inject({ method: 'POST', url: '/v1/jobs', payload: form([{ data }]), headers: { 'x-session-id': 'broken-store-1' } });
      expect(response.statusCode).toBe(202);
      job = await finishedJob(app, response.json<JobView>().id);
      await app.petcut.processing.drain();
    } finally {
      restore();
    }
    expect(job).toMatchObject({ status: 'failed', files: [{ status: 'failed', error: { code: 'PETCUT_E_STORAGE_UNAVAILABLE' } }] });
    expectError(await get('/v1/sessions/broken-store-1/images'), 404, 'PETCUT_E_SESSION_NOT_FOUND');
    expect(existsSync(join(dir, 'sessions', 'temporary', 'broken-store-1'))).toBe(false);
    const again = await app.inject({ method: 'POST', url: '/v1/jobs', payload: form([{ data }]), headers: { 'x-session-id': 'broken-store-1' } });
    expect((await finishedJob(app, again.json<JobView>().id)).status).toBe('succeeded');
    expect((await app.inject({ method: 'GET', url: '/v1/sessions/broken-store-1/images' })).json<{ images: unknown[] }>().images).toHaveLength(2);
  });

  it('failing half-way through storing a file\'s outputs leaves no orphan in the session', async () => {
    const data = await photo(320, 240, 'jpeg', 90); // cached by the test above
    let sessionPuts = 0;
    const restore = store.fail((op, key) => op === 'put' && key.startsWith('sessions/') && ++sessionPuts > 1);
    try {
      const response = await app.inject({ method: 'POST', url: '/v1/jobs', payload: form([{ data }]), headers: { 'x-session-id': 'half-stored-1' } });
      const job = await finishedJob(app, response.json<JobView>().id);
      expect(job.files[0]).toMatchObject({ status: 'failed', error: { code: 'PETCUT_E_STORAGE_UNAVAILABLE' } });
    } finally {
      restore();
    }
    expect(sessionPuts).toBe(2); // the original was stored, its cut-out was not
    const listed = await get('/v1/sessions/half-stored-1/images');
    expect(listed.statusCode, `the session shows what the failed file left: ${listed.body}`).toBe(404);
  });

  it('a synchronous cut-out into a session answers 503 with Retry-After when storage is down; a cached one is answered, flagged degraded', async () => {
    const restore = store.fail((op) => op === 'put');
    try {
      const response = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: await photo(320, 240, 'jpeg', 91) }]), headers: { 'x-session-id': 'broken-store-2' } });
      expectError(response, 503, 'PETCUT_E_STORAGE_UNAVAILABLE');
      expect(response.headers['retry-after']).toBe('7');
      // Cached by the tests above: answered from the memory cache without its session copy (test/http.degraded.test.ts).
      const cached = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: await photo(320, 240, 'jpeg', 90) }]), headers: { 'x-session-id': 'broken-store-2' } });
      expect(cached.statusCode).toBe(200);
      expect(cached.headers['x-petcut-degraded']).toBe('storage');
    } finally {
      restore();
    }
    expect((await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: await photo(320, 240, 'jpeg', 90) }]) })).statusCode).toBe(200);
  });
});

describe('before the model has loaded', () => {
  it('/healthz is 200; /readyz, /health and work are 503 PETCUT_E_NOT_READY with Retry-After', async () => {
    const loading = await buildApp(new Promise<Engine>(() => undefined), { memoryProbe });
    try {
      const inject = loading.app.inject.bind(loading.app);
      expect((await inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const ready = await inject({ method: 'GET', url: '/readyz' });
      expectError(ready, 503, 'PETCUT_E_NOT_READY');
      expect(ready.headers['retry-after']).toBe('5');
      const cutout = await inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: await photo(160, 120) }]) });
      expectError(cutout, 503, 'PETCUT_E_NOT_READY');
      expect(cutout.headers['retry-after']).toBe('5');
      expectError(await inject({ method: 'POST', url: '/v1/jobs', payload: form([{ data: await photo(160, 120) }]) }), 503, 'PETCUT_E_NOT_READY');
      const health = await inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ status: 'loading', model: { loaded: false } });
    } finally {
      await loading.app.close();
    }
  });
});

/** Route paths and methods from Fastify's own tree (printRoutes), HEAD left out. */
function registeredRoutes(tree: string): Array<{ path: string; method: string }> {
  const stack: string[] = [];
  const routes: Array<{ path: string; method: string }> = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const path = (depth === 0 ? '' : stack[depth - 1]!) + match[2]!;
    stack[depth] = path;
    for (const method of match[3]?.split(', ') ?? []) if (method !== 'HEAD') routes.push({ path, method });
  }
  return routes;
}

/** A small JSON-schema check: type, enum, required, properties, items, anyOf. */
function violations(value: unknown, schema: Json, at = '$'): string[] {
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Json[]).some((s) => violations(value, s, at).length === 0) ? [] : [`${at}: matches no anyOf branch`];
  const types = schema.type === undefined ? [] : ([] as string[]).concat(schema.type as string | string[]);
  const typeOf = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (types.length > 0 && !types.some((t) => t === typeOf || (t === 'number' && typeOf === 'integer'))) return [`${at}: ${typeOf}, documented ${types.join('|')}`];
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) return [`${at}: ${String(value)} not in the documented enum`];
  const problems: string[] = [];
  if (typeOf === 'object') {
    const object = value as Json;
    for (const key of (schema.required ?? []) as string[]) if (!(key in object)) problems.push(`${at}.${key}: missing`);
    for (const [key, sub] of Object.entries((schema.properties ?? {}) as Record<string, Json>)) if (object[key] !== undefined) problems.push(...violations(object[key], sub, `${at}.${key}`));
  }
  if (typeOf === 'array' && schema.items) (value as unknown[]).forEach((item, i) => problems.push(...violations(item, schema.items as Json, `${at}[${i}]`)));
  return problems;
}

describe('OpenAPI', () => {
  it('GET /openapi.json is OpenAPI 3 and matches the registered routes both ways', async () => {
    const response = await get('/openapi.json');
    expect(response.statusCode).toBe(200);
    const doc = response.json<{ openapi: string; paths: Record<string, Record<string, Json>> }>();
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ path, method: method.toUpperCase() })));
    expect(documented.length).toBeGreaterThanOrEqual(14);
    for (const { path, method } of documented) {
      expect(app.hasRoute({ method: method as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), `${method} ${path} is documented but not served`).toBe(true);
    }
    // Fastify's own tree, and the app's route table (onRoute: Fastify's tree printer folds wildcard routes such
    // as /widget/* into a bare "/*", so it cannot name those).
    const tree = registeredRoutes(app.printRoutes({ commonPrefix: false }));
    expect(tree).toContainEqual({ path: '/v1/jobs/:jobId/events', method: 'GET' });
    const registered = app.routeTable().map((r) => ({ path: r.url, method: r.method }));
    for (const route of tree.filter((r) => !r.path.endsWith('*'))) expect(registered, `${route.method} ${route.path} is in Fastify's tree but not in the route table`).toContainEqual(route);
    expect(registered).toContainEqual({ path: '/v1/jobs/:jobId/events', method: 'GET' });
    for (const { path, method } of registered) {
      if (path === '/openapi.json') continue;
      // The CORS preflight: answered by the CORS layer for every path, documented with the security scheme.
      if (path === '*' && method === 'OPTIONS') continue;
      expect(doc.paths[path.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()], `${method} ${path} is served but not documented`).toBeDefined();
    }
  });

  it('real responses match the documented JSON schemas', async () => {
    const doc = (await get('/openapi.json')).json<{ paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Json }> }> }>> }>();
    const schemaOf = (path: string, method: string, status: number): Json => doc.paths[path]![method]!.responses[String(status)]!.content!['application/json']!.schema;
    const check = (label: string, body: unknown, schema: Json): void => expect(violations(body, schema), label).toEqual([]);
    const job = await app.inject({ method: 'POST', url: '/v1/jobs', payload: form([{ data: await photo(320, 240, 'jpeg', 90) }]) });
    check('POST /v1/jobs 202', job.json(), schemaOf('/v1/jobs', 'post', 202));
    const done = await finishedJob(app, job.json<JobView>().id);
    const polled = await get(`/v1/jobs/${done.id}`);
    check('GET /v1/jobs/{jobId} 200', polled.json(), schemaOf('/v1/jobs/{jobId}', 'get', 200));
    check('GET /v1/jobs/{jobId} 404', (await get('/v1/jobs/unknown')).json(), schemaOf('/v1/jobs/{jobId}', 'get', 404));
    const images = await get(`/v1/sessions/${done.sessionId!}/images`);
    check('GET /v1/sessions/{sessionId}/images 200', images.json(), schemaOf('/v1/sessions/{sessionId}/images', 'get', 200));
    check('GET /readyz 200', (await get('/readyz')).json(), schemaOf('/readyz', 'get', 200));
    const bad = await app.inject({ method: 'POST', url: '/v1/cutouts?format=gif', payload: form([{ data: await photo(160, 120) }]) });
    expect(doc.paths['/v1/cutouts']!.post!.responses['400']).toBeDefined();
    check('POST /v1/cutouts 400', bad.json(), schemaOf('/v1/cutouts', 'post', 400));
  });
});
