// The requests themselves. HTTP goes through Node's fetch (undici underneath), which
// keeps connections alive and reuses them as a browser does (no connection per
// request, so the generator measures the service, not TCP handshakes).
//
// WebSockets: Node 20 has no global WebSocket (it arrives in Node 22), so this uses
// `ws`, the library the server's @fastify/websocket is built on: one WebSocket
// implementation in the tree, already installed. `ws` must therefore be a
// production dependency (the CLI ships with them), not only a devDependency.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { ScenarioName } from './scenarios.js';
import { parseServerTiming } from './stats.js';
import type { Sample } from './stats.js';

export interface ClientOptions {
  base: string;
  headers: Record<string, string>;
  timeoutMs: number;
  effect: string;
  nextPhoto: () => Buffer;
  t0: number;
  record: (sample: Sample) => void;
}

export const ROUTES: Record<ScenarioName, string> = {
  'healthz': 'GET /healthz',
  'warmup': 'POST /warmup',
  'preview': 'POST /v1/cutouts?size=preview',
  'full': 'POST /v1/cutouts (full PNG)',
  'effect': 'POST /v1/cutouts?effects=…',
  'job': 'job (upload → events → result)',
  'session-store': 'POST /v1/sessions/:id/images',
  'effects-list': 'GET /v1/effects',
};

interface Answer { status: number; code?: string; headers?: Headers; body?: unknown }

async function call(options: ClientOptions, path: string, init: RequestInit = {}): Promise<Answer> {
  try {
    const response = await fetch(new URL(path, options.base), { ...init, headers: { ...options.headers, ...(init.headers as Record<string, string> | undefined) }, signal: AbortSignal.timeout(options.timeoutMs) });
    const bytes = Buffer.from(await response.arrayBuffer());
    let body: unknown;
    if ((response.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(bytes.toString('utf8')) as unknown;
    const code = response.status >= 400 ? errorCode(body) : undefined;
    return { status: response.status, code, headers: response.headers, body };
  } catch (error) {
    return { status: 0, code: networkCode(error) };
  }
}

function errorCode(body: unknown): string | undefined {
  const error = (body as { error?: { code?: string } | string; code?: string } | undefined);
  return typeof error?.error === 'object' ? error.error.code : error?.code;
}

function networkCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ?? ((error as Error).name === 'TimeoutError' ? 'TIMEOUT' : (error as Error).name || 'NETWORK');
}

function upload(photo: Buffer, field = 'image'): FormData {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'pet.jpg');
  return form;
}

function timed(options: ClientOptions, scenario: ScenarioName, route: string, extra: Partial<Sample> = {}) {
  const start = performance.now();
  return (answer: Answer, more: Partial<Sample> = {}): Answer => {
    const processing = answer.headers?.get('x-processing-time-ms');
    const stages = parseServerTiming(answer.headers?.get('server-timing') ?? null);
    options.record({
      route, scenario, at: start - options.t0, ms: performance.now() - start, status: answer.status, code: answer.code,
      cache: answer.headers?.get('x-cache') ?? undefined,
      stages: stages || processing ? { ...stages, ...(processing ? { total: Number(processing) } : {}) } : undefined,
      ...extra, ...more,
    });
    return answer;
  };
}

/** Runs one scenario; every request it makes is recorded, the scenario's own sample last. */
export async function runScenario(options: ClientOptions, scenario: ScenarioName, cold = false): Promise<void> {
  const done = timed(options, scenario, ROUTES[scenario], cold ? { cold } : {});
  switch (scenario) {
    case 'healthz': done(await call(options, '/healthz')); return;
    case 'warmup': done(await call(options, '/warmup', { method: 'POST' })); return;
    case 'effects-list': done(await call(options, '/v1/effects')); return;
    case 'preview': done(await call(options, '/v1/cutouts?size=preview&format=webp', { method: 'POST', body: upload(options.nextPhoto()) })); return;
    case 'full': done(await call(options, '/v1/cutouts', { method: 'POST', body: upload(options.nextPhoto()) })); return;
    case 'effect': done(await call(options, `/v1/cutouts?size=preview&format=webp&effects=${encodeURIComponent(options.effect)}`, { method: 'POST', body: upload(options.nextPhoto()) })); return;
    case 'session-store': done(await call(options, `/v1/sessions/loadtest-${randomUUID().slice(0, 12)}/images`, { method: 'POST', body: upload(options.nextPhoto()) })); return;
    case 'job': { const answer = await runJob(options); done(answer, { stages: answer.stages }); return; }
  }
}

interface JobAnswer extends Answer { stages?: Record<string, number> }

async function runJob(options: ClientOptions): Promise<JobAnswer> {
  const posted = timed(options, 'job', 'POST /v1/jobs', { step: true })(await call(options, '/v1/jobs?size=preview&format=webp', { method: 'POST', body: upload(options.nextPhoto()) }));
  if (posted.status !== 202) return posted;
  const job = posted.body as { id: string; eventsUrl: string };
  const eventsTimer = timed(options, 'job', 'WS /v1/jobs/:id/events', { step: true });
  const events = await followEvents(options, job.id);
  eventsTimer({ status: events.status, code: events.code }, { stages: events.stages });
  if (events.status !== 200) return events;
  const polled = await call(options, `/v1/jobs/${job.id}`);
  const result = (polled.body as { files?: { results?: { url: string }[] }[] } | undefined)?.files?.[0]?.results?.[0];
  if (polled.status !== 200 || !result) return { status: polled.status === 200 ? 500 : polled.status, code: polled.code ?? 'NO_RESULT' };
  const fetched = timed(options, 'job', 'GET result', { step: true })(await call(options, new URL(result.url, options.base).pathname));
  return { status: fetched.status === 200 ? 200 : fetched.status, code: fetched.code, stages: events.stages };
}

/** Follows the job's events to `complete`: per stage, the ms until the next event (what the shopper waits in each). */
function followEvents(options: ClientOptions, id: string): Promise<JobAnswer> {
  const url = new URL(`/v1/jobs/${id}/events`, options.base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers: options.headers });
    const stages: Record<string, number> = {};
    let last: { stage: string; at: number } | undefined;
    let failed: string | undefined;
    const finish = (answer: JobAnswer): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      resolve(answer);
    };
    const timer = setTimeout(() => finish({ status: 0, code: 'TIMEOUT' }), options.timeoutMs);
    socket.on('message', (data: Buffer) => {
      const event = JSON.parse(data.toString('utf8')) as { type: string; stage?: string; code?: string; error?: { code?: string } };
      const now = performance.now();
      if (last) stages[last.stage] = (stages[last.stage] ?? 0) + now - last.at;
      last = event.type === 'stage' && event.stage ? { stage: event.stage, at: now } : undefined;
      if (event.type === 'error') failed = event.code ?? event.error?.code ?? 'JOB_ERROR';
      if (event.type === 'complete') finish(failed ? { status: 500, code: failed, stages } : { status: 200, stages });
    });
    socket.on('unexpected-response', (_request, response) => finish({ status: response.statusCode ?? 0, code: 'WS_REFUSED' }));
    socket.on('error', (error: NodeJS.ErrnoException) => finish({ status: 0, code: error.code ?? 'WS_ERROR' }));
    socket.on('close', () => finish({ status: 0, code: 'WS_CLOSED' }));
  });
}
