import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { createApp } from '../../src/app.js';
import type { AppDeps, PetcutApp } from '../../src/app.js';
import { createEngine } from '../../src/engine/engine.js';
import { PetcutError } from '../../src/errors.js';
import type { Engine } from '../../src/engine/engine.js';
import { loadServiceConfig } from '../../src/config.js';
import { createStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/index.js';
import { discScene } from '../images.js';
import { testEngineConfig, testEnv } from './env.js';

/**
 * Helpers for the HTTP tests: one engine per test file (onnxruntime cannot be
 * loaded again in a process once its worker has exited), apps on a temporary
 * data directory, generated photos, multipart bodies, error checks and a
 * WebSocket client that records what it receives.
 */
export const startEngine = (): Promise<Engine> => createEngine({ config: testEngineConfig(), pipelines: 2 });

export const DAY_MS = 86_400_000;

/** An operator key every test app accepts (PETCUT_OPERATOR_KEYS holds only its hash). */
export const OPERATOR_KEY = 'pk_test-operator-key-for-petcut-tests';
export const OPERATOR = { 'x-api-key': OPERATOR_KEY } as const;
export const OPERATOR_KEYS = `tests:${createHash('sha256').update(OPERATOR_KEY).digest('hex')}`;

export interface TestApp {
  readonly app: PetcutApp;
  readonly dir: string;
  /** The store the app was given (after `wrapStore`). */
  readonly store: ObjectStore;
}

export interface BuildOptions {
  readonly env?: Record<string, string>;
  /** Wraps the fs store (to make it fail, count calls...). */
  readonly wrapStore?: (store: ObjectStore) => ObjectStore;
  readonly clock?: AppDeps['clock'];
  readonly memoryProbe?: AppDeps['memoryProbe'];
  /** pino options (e.g. a stream to read the logs); silent by default. */
  readonly logger?: AppDeps['logger'];
  /** OpenTelemetry traces (off by default, as in production without an OTLP endpoint). */
  readonly tracing?: AppDeps['tracing'];
  /** GPU readings (default: the app's own nvidia-smi probe). */
  readonly gpuProbe?: AppDeps['gpuProbe'];
}

export async function buildApp(engine: Engine | Promise<Engine>, options: BuildOptions = {}): Promise<TestApp> {
  const dir = await mkdtemp(join(tmpdir(), 'petcut-http-'));
  // From nothing but what tests set (support/env.ts): the developer's shell stays out.
  const config = loadServiceConfig(testEnv({ PETCUT_DATA_DIR: dir, PETCUT_SWEEP_INTERVAL_S: '0', PETCUT_LOG_LEVEL: 'silent', PETCUT_OPERATOR_KEYS: OPERATOR_KEYS,
    // Tests send hundreds of requests a minute from one address; the limits have their own tests (env overrides).
    PETCUT_RATE_LIMIT_IP_PER_MIN: '0', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '0', PETCUT_UPLOADS_PER_ADDRESS: '0',
    // Admission by deadline follows the measured pace, which a loaded test machine makes vary: it has its own
    // tests (http.admission.test.ts); elsewhere only the queue bound decides, deterministically.
    PETCUT_ADMISSION_DEADLINE_S: '0',
    // Warm-ups by the schedule's hours and after recent cut-outs would make every warm-up test depend on the
    // time of day and the order of its cases: their own tests (warmup.test.ts) set them.
    PETCUT_WARMUP_HOURS: 'always', PETCUT_WARMUP_RECENT_S: '0', ...options.env }));
  const fsStore = createStore({ kind: 'fs', root: dir });
  const store = options.wrapStore ? options.wrapStore(fsStore) : fsStore;
  const app = await createApp(config, { engine, store, logger: options.logger ?? false, clock: options.clock, memoryProbe: options.memoryProbe, tracing: options.tracing, gpuProbe: options.gpuProbe });
  app.addHook('onClose', async () => rm(dir, { recursive: true, force: true }));
  return { app, dir, store };
}

/** Wraps a store so that its writes fail, as the adapters do on an outage, while `failing()` says so. */
export function failingPuts(failing: () => boolean): (store: ObjectStore) => ObjectStore {
  return (store) => ({
    ...store,
    name: store.name,
    put: async (...args) => {
      if (failing()) throw new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE');
      return store.put(...args);
    },
  });
}

/** Listens on a free loopback port; returns the base URL. */
export async function listen(app: PetcutApp): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' });
}

// ---- images ----------------------------------------------------------------

export type Format = 'jpeg' | 'png' | 'webp';

/** A bright textured background with a dark "pet" disc; `shift` moves the disc (a different photo). */
export async function photo(width = 320, height = 240, format: Format = 'jpeg', shift = 0): Promise<Buffer> {
  const r = Math.round(Math.min(width, height) * 0.3);
  const { rgb } = discScene(width, height, [{ cx: Math.round(width * 0.45) + shift, cy: Math.round(height / 2), r }]);
  const image = sharp(rgb, { raw: { width, height, channels: 3 } });
  return (format === 'jpeg' ? image.jpeg({ quality: 90 }) : format === 'png' ? image.png() : image.webp({ quality: 90 })).toBuffer();
}

/** The real format of encoded bytes, from their magic numbers. */
export function sniff(data: Buffer): string {
  if (data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return 'unknown';
}

// ---- requests ----------------------------------------------------------------

export interface FilePart {
  readonly data: Buffer;
  readonly field?: string;
  readonly filename?: string;
  readonly type?: string;
}

/** A multipart form (works with app.inject and with fetch). */
export function form(files: readonly FilePart[], fields: Record<string, string> = {}): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  for (const file of files) {
    body.append(file.field ?? 'image', new Blob([new Uint8Array(file.data)], { type: file.type ?? `image/${sniff(file.data) === 'unknown' ? 'jpeg' : sniff(file.data)}` }), file.filename ?? 'photo.jpg');
  }
  return body;
}

/** The path part of an absolute URL the app handed out (for app.inject). */
export const pathOf = (url: string): string => {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
};

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
  readonly requestId: string;
}

/** Asserts the one error shape: status, `{ error: { code, message }, requestId }`, JSON. */
export function expectError(response: { statusCode: number; body: string; headers: Record<string, unknown> }, status: number, code: string | RegExp): ErrorBody {
  expect(response.statusCode, response.body.slice(0, 300)).toBe(status);
  expect(String(response.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(response.body) as ErrorBody;
  expect(body.error.code).toMatch(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.requestId).toBe('string');
  return body;
}

/** fetch's Response in the shape expectError reads. */
export async function asInjected(response: Response): Promise<{ statusCode: number; body: string; headers: Record<string, string> }> {
  return { statusCode: response.status, body: await response.text(), headers: Object.fromEntries(response.headers.entries()) };
}

// ---- WebSocket -------------------------------------------------------------

export interface Message { readonly type: string; readonly [key: string]: unknown }

/** A WebSocket client that records every message, server ping and the close. */
export class Probe {
  readonly messages: Message[] = [];
  pings = 0;
  closeCode: number | undefined;
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  private waiters: Array<() => void> = [];

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
      this.socket.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode })));
    });
    this.closed = new Promise((resolve) => this.socket.once('close', (code) => resolve(code)));
    this.opened.catch(() => undefined);
    this.socket.on('message', (raw) => {
      this.messages.push(JSON.parse(String(raw)) as Message);
      this.wake();
    });
    this.socket.on('ping', () => {
      this.pings++;
      this.wake();
    });
    this.socket.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Resolves with the first recorded message (from index `from`) matching, or rejects after `timeoutMs`. */
  async next(match: (m: Message) => boolean, from = 0, timeoutMs = 30_000): Promise<Message> {
    await this.until(() => this.messages.slice(from).some(match), timeoutMs, 'message');
    return this.messages.slice(from).find(match)!;
  }

  async until(condition: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.closeCode !== undefined && what === 'message') throw new Error(`socket closed (${this.closeCode}) before the ${what}: ${JSON.stringify(this.messages.map((m) => m.type))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a ${what}: ${JSON.stringify(this.messages.map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }
}

/** Resolves with the HTTP status a refused WebSocket upgrade got. */
export function refusedUpgrade(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => {
      socket.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    socket.once('error', (error) => reject(error));
  });
}

// ---- stores that misbehave on demand -----------------------------------------

export type StoreOp = 'put' | 'get' | 'head' | 'list' | 'delete' | 'copy' | 'ping';

export interface ControlledStore {
  readonly store: ObjectStore;
  /** Makes matching calls wait until the returned release is called. */
  hold(match: (op: StoreOp, key: string) => boolean): () => void;
  /** Makes matching calls throw (PETCUT_E_STORAGE_UNAVAILABLE, as a broken backend does) until the returned restore is called. */
  fail(match: (op: StoreOp, key: string) => boolean, error?: () => Error): () => void;
  /** Every call made, in order. */
  readonly calls: Array<{ op: StoreOp; key: string }>;
}

export function controlledStore(inner: ObjectStore): ControlledStore {
  const holds = new Set<{ match: (op: StoreOp, key: string) => boolean; gate: Promise<void> }>();
  const failures = new Set<{ match: (op: StoreOp, key: string) => boolean; error: () => Error }>();
  const calls: Array<{ op: StoreOp; key: string }> = [];
  const around = async <T>(op: StoreOp, key: string, call: () => Promise<T>): Promise<T> => {
    calls.push({ op, key });
    for (const hold of [...holds]) if (hold.match(op, key)) await hold.gate;
    for (const failure of failures) if (failure.match(op, key)) throw failure.error();
    return call();
  };
  const store: ObjectStore = {
    name: inner.name,
    put: (key, data, options) => around('put', key, () => inner.put(key, data, options)),
    get: (key) => around('get', key, () => inner.get(key)),
    head: (key) => around('head', key, () => inner.head(key)),
    list: (prefix) => around('list', prefix, () => inner.list(prefix)),
    delete: (key) => around('delete', key, () => inner.delete(key)),
    copy: (from, to) => around('copy', to, () => inner.copy(from, to)),
    ensureLifecycle: (rules) => inner.ensureLifecycle(rules),
    ping: () => around('ping', '', () => inner.ping()),
  };
  return {
    store,
    calls,
    hold(match) {
      let release!: () => void;
      const entry = { match, gate: new Promise<void>((resolve) => (release = resolve)) };
      holds.add(entry);
      return () => {
        holds.delete(entry);
        release();
      };
    },
    // What every adapter throws when its backend is down (they wrap the SDK's errors).
    fail(match, error = () => new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE', 'Storage failed: connect ECONNREFUSED 10.0.0.1:443')) {
      const entry = { match, error };
      failures.add(entry);
      return () => failures.delete(entry);
    },
  };
}

// ---- jobs ----------------------------------------------------------------------

export interface JobView {
  readonly id: string;
  readonly status: string;
  readonly sessionId?: string;
  readonly statusUrl: string;
  readonly eventsUrl: string;
  readonly progress: Record<string, unknown>;
  readonly files: Array<{
    index: number; name?: string; status: string; cache?: string; originalUrl?: string;
    error?: { code: string; message: string };
    results?: Array<{ effect: string; format: string; contentType: string; width: number; height: number; bytes: number; url: string; imageId?: string }>;
  }>;
}

/** Polls GET /v1/jobs/:id until the job has finished. */
export async function finishedJob(app: PetcutApp, id: string, timeoutMs = 100_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await app.inject({ method: 'GET', url: `/v1/jobs/${id}` });
    expect(response.statusCode).toBe(200);
    const job = response.json<JobView>();
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
