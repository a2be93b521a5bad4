import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { startTracing } from '../src/observability/tracing.js';
import type { Tracing } from '../src/observability/tracing.js';
import { buildApp, failingPuts, listen, photo, startEngine } from './support/app.js';
import { childEnv } from './support/env.js';

/**
 * Traces as a collector receives them: the real SDK and OTLP/HTTP exporter
 * (JSON) send to a loopback receiver; the spans are checked for names,
 * parents, the caller's trace, attributes and error status. The service as a
 * process: without an endpoint no OpenTelemetry SDK is loaded; with one, the
 * spans are flushed on SIGTERM.
 */
interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly start: bigint;
  readonly end: bigint;
  readonly attributes: Record<string, unknown>;
  readonly status: { code: number; message?: string };
  readonly events: readonly string[];
  readonly service: unknown;
}

const SERVER_KIND = 2;
const STATUS_ERROR = 2;
const MS = 1_000_000n;

interface OtlpValue { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean }
interface OtlpAttribute { key: string; value: OtlpValue }
interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; startTimeUnixNano: string | number; endTimeUnixNano: string | number;
  attributes?: OtlpAttribute[]; status?: { code?: number; message?: string }; events?: Array<{ name: string }>;
}
interface OtlpRequest { resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> }

const valueOf = (v: OtlpValue): unknown => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue;
const attributesOf = (list: OtlpAttribute[] = []): Record<string, unknown> => Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/** An OTLP/HTTP receiver: POST /v1/traces with a JSON ExportTraceServiceRequest, answered 200 `{}`. */
async function startReceiver(): Promise<{ server: Server; url: string; spans: ReceivedSpan[]; contentTypes: Set<string> }> {
  const spans: ReceivedSpan[] = [];
  const contentTypes = new Set<string>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') return void response.writeHead(404).end();
      contentTypes.add(String(request.headers['content-type']));
      const raw = Buffer.concat(chunks);
      const body = JSON.parse(String(request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw)) as OtlpRequest;
      for (const { resource, scopeSpans } of body.resourceSpans) {
        const service = attributesOf(resource.attributes)['service.name'];
        for (const span of scopeSpans.flatMap((s) => s.spans)) {
          spans.push({
            traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? '', name: span.name, kind: span.kind,
            start: BigInt(span.startTimeUnixNano), end: BigInt(span.endTimeUnixNano), attributes: attributesOf(span.attributes),
            status: { code: span.status?.code ?? 0, message: span.status?.message }, events: (span.events ?? []).map((e) => e.name), service,
          });
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, contentTypes };
}

let receiver: Awaited<ReturnType<typeof startReceiver>>;
let tracing: Tracing;
let engine: Engine;
let app: PetcutApp;
let base: string;
let failPuts = false;
const logs: Array<Record<string, unknown>> = [];
const savedEnv = { ...process.env };

beforeAll(async () => {
  receiver = await startReceiver();
  for (const name of Object.keys(process.env)) if (name.startsWith('OTEL_')) delete process.env[name];
  // The SDK reads the standard variables, as in production.
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
  tracing = startTracing();
  engine = await startEngine();
  const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => { for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>); done(); } });
  const wrapStore = failingPuts(() => failPuts);
  app = (await buildApp(engine, { tracing, wrapStore, env: { GOOGLE_CLOUD_PROJECT: 'pet-prints-test' }, logger: { level: 'info', stream } })).app;
  base = await listen(app);
});

afterAll(async () => {
  await app?.petcut.processing.drain();
  await app?.close();
  await engine?.close();
  await tracing?.shutdown();
  receiver?.server.close();
  process.env = savedEnv;
});

/** Flushes the batch until the receiver holds a span matching (the server span ends after the response is sent). */
async function received(match: (span: ReceivedSpan) => boolean, timeoutMs = 10_000): Promise<ReceivedSpan> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await tracing.forceFlush();
    const found = receiver.spans.find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such span among ${receiver.spans.map((s) => s.name).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const childrenOf = (parent: ReceivedSpan): ReceivedSpan[] => receiver.spans.filter((s) => s.traceId === parent.traceId && s.parentSpanId === parent.spanId).sort((a, b) => Number(a.start - b.start));

/** The pet photo the tests share: cut out once (the model's run), then served from the cache. */
const pet = photo(96, 72, 'jpeg', 1);

const cutout = (body: Buffer, headers: Record<string, string> = {}, query = '?size=48') =>
  fetch(`${base}/v1/cutouts${query}`, { method: 'POST', headers: { 'content-type': 'image/jpeg', ...headers }, body: new Uint8Array(body) });

describe('traces', () => {
  it('a cut-out\'s SERVER span continues the caller\'s trace, with the work and each of its stages under it', async () => {
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const caller = 'b7ad6b7169203331';
    const response = await cutout(await pet, { traceparent: `00-${trace}-${caller}-01` });
    expect(response.status).toBe(200);
    const server = await received((s) => s.traceId === trace && s.kind === SERVER_KIND);
    expect(server).toMatchObject({
      name: 'POST /v1/cutouts', parentSpanId: caller, service: 'petcut', status: { code: 0 },
      attributes: { 'http.request.method': 'POST', 'http.route': '/v1/cutouts', 'http.response.status_code': 200, 'url.path': '/v1/cutouts' },
    });
    expect(server.attributes['petcut.error_code']).toBeUndefined();
    expect(receiver.contentTypes).toEqual(new Set(['application/json']));

    const [work, ...others] = childrenOf(server);
    expect(others).toEqual([]);
    expect(work).toMatchObject({ name: 'petcut.process', attributes: { 'petcut.cache': 'miss', 'petcut.outputs': 1, 'petcut.request_id': trace } });
    expect(work!.attributes['petcut.time_ms.inference']).toBeGreaterThan(0);
    expect(work!.start + MS >= server.start && work!.end <= server.end + MS).toBe(true);

    const stages = childrenOf(work!);
    const names = stages.map((s) => s.name);
    for (const stage of ['petcut.cache', 'petcut.decode', 'petcut.segmentation', 'petcut.encode']) expect(names).toContain(stage);
    expect(names.indexOf('petcut.cache')).toBeLessThan(names.indexOf('petcut.decode'));
    expect(names.indexOf('petcut.segmentation')).toBeLessThan(names.indexOf('petcut.encode'));
    // One after the other, all within the work: the work and its stages share one clock, so exactly
    // (a stage ends when the next begins), however long the work took and whatever the wall clock did.
    stages.forEach((stage, i) => {
      expect(stage.start >= work!.start && stage.end <= work!.end).toBe(true);
      if (i > 0) expect(stages[i - 1]!.end).toBe(stage.start);
    });
    expect(stages.find((s) => s.name === 'petcut.encode')!.attributes).toMatchObject({ 'petcut.effect': 'color', 'petcut.output.index': 0, 'petcut.output.count': 1 });
  });

  it('a request without a traceparent starts its own trace, its log lines name it, and a cache hit runs no model stages', async () => {
    // The second time at the latest, the cut-out comes from the cache.
    expect((await cutout(await pet)).status).toBe(200);
    const response = await cutout(await pet);
    expect(response.headers.get('x-cache')).toBe('HIT');
    const requestId = response.headers.get('x-request-id')!;
    const work = await received((s) => s.name === 'petcut.process' && s.attributes['petcut.request_id'] === requestId);
    const server = await received((s) => s.spanId === work.parentSpanId);
    expect(server).toMatchObject({ name: 'POST /v1/cutouts', parentSpanId: '', traceId: work.traceId });
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(work.attributes['petcut.cache']).toBe('hit');
    expect(childrenOf(work).map((s) => s.name)).toEqual(['petcut.cache']);
    expect(logs.find((l) => l.reqId === requestId && l.message === 'request')).toMatchObject({
      'logging.googleapis.com/trace': `projects/pet-prints-test/traces/${server.traceId}`,
      'logging.googleapis.com/spanId': server.spanId,
    });
  });

  it('a refused upload carries its error code without being an error; a storage outage marks the request, the work and the stage ERROR', async () => {
    const refusedTrace = '1af7651916cd43dd8448eb211c80319c';
    expect((await cutout(Buffer.from('plain text, not a photo'), { traceparent: `00-${refusedTrace}-b7ad6b7169203331-01` })).status).toBe(415);
    const refused = await received((s) => s.traceId === refusedTrace && s.kind === SERVER_KIND);
    expect(refused.attributes).toMatchObject({ 'http.response.status_code': 415, 'petcut.error_code': expect.stringMatching(/^PETCUT_E_/) });
    expect(refused.status.code).toBe(0);

    const failedTrace = '2af7651916cd43dd8448eb211c80319c';
    // Another size of the cached cut-out, as JSON: rendered, then stored (which fails).
    await app.petcut.processing.drain();
    failPuts = true;
    try {
      const response = await cutout(await pet, { traceparent: `00-${failedTrace}-b7ad6b7169203331-01`, accept: 'application/json' }, '?size=40');
      expect(response.status).toBe(503);
    } finally {
      failPuts = false;
    }
    const failed = await received((s) => s.traceId === failedTrace && s.kind === SERVER_KIND);
    expect(failed).toMatchObject({ status: { code: STATUS_ERROR }, attributes: { 'http.response.status_code': 503, 'petcut.error_code': 'PETCUT_E_STORAGE_UNAVAILABLE', 'error.type': 'PETCUT_E_STORAGE_UNAVAILABLE' } });
    const [work] = childrenOf(failed);
    expect(work).toMatchObject({ name: 'petcut.process', status: { code: STATUS_ERROR, message: 'PETCUT_E_STORAGE_UNAVAILABLE' }, events: ['exception'] });
    expect(childrenOf(work!).at(-1)).toMatchObject({ name: 'petcut.store', status: { code: STATUS_ERROR } });
  });

  it('a request the client leaves before its response still ends its span, as an error', async () => {
    const trace = '3af7651916cd43dd8448eb211c80319c';
    const { port } = new URL(base);
    const socket = connect(Number(port), '127.0.0.1');
    // Fastify's onRequest hooks have run by the next turn after the server took the request.
    app.server.once('request', () => setImmediate(() => socket.destroy()));
    socket.write(`POST /v1/cutouts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\ntraceparent: 00-${trace}-b7ad6b7169203331-01\r\n\r\n`);
    socket.write(Buffer.alloc(1000));
    const span = await received((s) => s.traceId === trace);
    expect(span).toMatchObject({ name: 'POST /v1/cutouts', kind: SERVER_KIND, status: { code: STATUS_ERROR }, attributes: { 'error.type': 'PETCUT_E_CLIENT_CLOSED' } });
    expect(span.attributes['http.response.status_code']).toBeUndefined();
  });
});

// ---- the service as a process ------------------------------------------------

const main = new URL('../dist/main.js', import.meta.url).pathname;

/** Records every package the process imports (ESM resolve hook) and, at exit, every CommonJS module it loaded. */
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (!/^(\\.|\\/|node:|file:|data:)/.test(specifier)) appendFileSync(process.env.IMPORT_LOG_FILE, 'import ' + specifier + '\\n');
  return next(specifier, context);
}`;
const REGISTER = `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
register('./hooks.mjs', import.meta.url);
const require = createRequire(import.meta.url);
process.on('exit', () => appendFileSync(process.env.IMPORT_LOG_FILE, Object.keys(require.cache).map((p) => 'require ' + p + '\\n').join('')));`;

/** Runs dist/main.js, sends one request with a traceparent, stops it with SIGTERM; returns what it loaded. */
async function runService(env: Record<string, string>, trace: string): Promise<{ code: number | null; loaded: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'petcut-tracing-'));
  try {
    await writeFile(join(dir, 'hooks.mjs'), HOOKS);
    await writeFile(join(dir, 'register.mjs'), REGISTER);
    // No OTEL_* (nor PETCUT_*) from this process's environment (support/env.ts); in `dir`, so no .env is read.
    const child = spawn(process.execPath, ['--import', join(dir, 'register.mjs'), main], {
      cwd: dir,
      env: childEnv({ PORT: '0', PETCUT_HOST: '127.0.0.1', PETCUT_LOG_LEVEL: 'info', PETCUT_DATA_DIR: join(dir, 'data'), PETCUT_MODEL: join(dir, 'no-model.onnx'), IMPORT_LOG_FILE: join(dir, 'loaded.txt'), ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const waiters: Array<() => void> = [];
    const read = (chunk: Buffer): void => {
      output += String(chunk);
      waiters.splice(0).forEach((wake) => wake());
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const seen = async (pattern: RegExp): Promise<RegExpExecArray> => {
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the service exited early: ${output}`);
        await Promise.race([new Promise<void>((wake) => waiters.push(wake)), exited]);
      }
    };
    const address = (await seen(/listening at (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    // The model file does not exist, so no model loads (fast, and nothing of onnxruntime is still starting at the SIGTERM).
    await seen(/model failed to load/);
    expect((await fetch(`${address}/v1/effects`, { headers: { traceparent: `00-${trace}-b7ad6b7169203331-01` } })).status).toBe(200);
    child.kill('SIGTERM');
    const code = await exited;
    return { code, loaded: (await readFile(join(dir, 'loaded.txt'), 'utf8')).split('\n').filter(Boolean) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** OpenTelemetry modules other than the API (prom-client loads @opentelemetry/api itself, for exemplars; without an SDK it is a no-op). */
const sdkModules = (loaded: readonly string[]): string[] =>
  loaded.filter((line) => line.startsWith('import @opentelemetry/') || (line.startsWith('require ') && line.includes('/@opentelemetry/') && !line.includes('/@opentelemetry/api/')));

describe('the service process', () => {
  it('without an OTLP endpoint imports no OpenTelemetry SDK and exports nothing', async () => {
    const trace = '4af7651916cd43dd8448eb211c80319c';
    const run = await runService({}, trace);
    expect(run.code).toBe(0);
    // The recording works: the service's own packages are in it.
    expect(run.loaded).toContain('import fastify');
    expect(sdkModules(run.loaded)).toEqual([]);
    expect(receiver.spans.filter((s) => s.traceId === trace)).toEqual([]);
  });

  it('with OTEL_EXPORTER_OTLP_ENDPOINT exports its spans, flushed on SIGTERM, under OTEL_SERVICE_NAME', async () => {
    const trace = '5af7651916cd43dd8448eb211c80319c';
    // A batch delay longer than the run: only the shutdown's flush can deliver the span.
    const run = await runService({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '600000', OTEL_SERVICE_NAME: 'petcut-process-test' }, trace);
    expect(run.code).toBe(0);
    expect(run.loaded).toContain('import @opentelemetry/sdk-node');
    const span = receiver.spans.find((s) => s.traceId === trace);
    expect(span).toMatchObject({ name: 'GET /v1/effects', parentSpanId: 'b7ad6b7169203331', service: 'petcut-process-test', attributes: { 'http.response.status_code': 200 } });
  });

  it('OTEL_SDK_DISABLED=true keeps it off even with an endpoint', async () => {
    const run = await runService({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: 'true' }, '6af7651916cd43dd8448eb211c80319c');
    expect(run.code).toBe(0);
    expect(sdkModules(run.loaded)).toEqual([]);
  });
});
