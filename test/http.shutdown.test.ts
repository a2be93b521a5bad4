import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { JobView, Message } from './support/app.js';
import { buildApp, controlledStore, expectError, form, listen, photo, Probe, startEngine } from './support/app.js';

/**
 * Graceful shutdown, in its own file because it closes the engine. A job has
 * been through the engine (held while storing its render) when shutdown() is
 * called: started work finishes. What the service answers while it drains is
 * recorded, then the job is let go. (Work not started yet is refused at once:
 * test/process.shutdown.test.ts.)
 */
interface Answer { statusCode: number; body: string; headers: Record<string, unknown> }

let app: PetcutApp;
let base: string;
let job: JobView;
let probe: Probe;
const during: Record<string, Answer> = {};
let settledWhileJobHeld = false;
/** The job's status at the moment shutdown() resolved: whatever the timing, it must be finished by then. */
let jobStatusAtSettle: string | undefined;
let jobAfter: JobView | undefined;
let reachableAfter = true;

beforeAll(async () => {
  const engine = await startEngine();
  let control!: ReturnType<typeof controlledStore>;
  // A deadline far beyond the job: on a loaded machine (the whole suite on two cores) a first
  // inference can outlast the default 9 s, and this file tests the waiting, not the deadline.
  ({ app } = await buildApp(engine, { wrapStore: (inner) => (control = controlledStore(inner)).store, env: { PETCUT_SHUTDOWN_TIMEOUT_S: '120' } }));
  base = await listen(app);
  const data = await photo(320, 240, 'jpeg');
  const release = control.hold((op, key) => op === 'put' && key.startsWith('cache/render/'));
  const response = await fetch(`${base}/v1/jobs`, { method: 'POST', body: form([{ data }]) });
  job = (await response.json()) as JobView;
  probe = new Probe(job.eventsUrl);
  await probe.next((m) => m.type === 'stage' && m.stage === 'store');

  let settled = false;
  const shutdown = app.shutdown().finally(() => {
    settled = true;
    jobStatusAtSettle = app.petcut.jobs.get(job.id)?.status;
  });
  const inject = async (options: InjectOptions): Promise<Answer> => {
    const r = await app.inject(options);
    return { statusCode: r.statusCode, body: r.body, headers: r.headers };
  };
  during.healthz = await inject({ method: 'GET', url: '/healthz' });
  during.readyz = await inject({ method: 'GET', url: '/readyz' });
  during.health = await inject({ method: 'GET', url: '/health' });
  // Text instead of a photo: if the request is not refused up front, it fails fast with 415 rather than running the model.
  during.job = await inject({ method: 'POST', url: '/v1/jobs', payload: form([{ data: Buffer.from('not a photo'), type: 'text/plain' }]) });
  during.cutout = await inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: Buffer.from('not a photo'), type: 'text/plain' }]) });
  // The drain has had every answer above to get ahead of the held job; the order is checked at the settle itself.
  settledWhileJobHeld = settled;
  release();
  await shutdown;
  jobAfter = app.petcut.jobs.get(job.id) as JobView | undefined;
  reachableAfter = await fetch(`${base}/healthz`).then(() => true, () => false);
});
afterAll(async () => {
  probe?.close();
  await app?.shutdown();
});

describe('graceful shutdown', () => {
  it('waits for the running job: shutdown() resolves only after the job succeeded', () => {
    expect(settledWhileJobHeld).toBe(false);
    expect(jobStatusAtSettle).toBe('succeeded');
    expect(jobAfter?.status).toBe('succeeded');
    expect(jobAfter?.files[0]).toMatchObject({ status: 'succeeded', results: [expect.objectContaining({ contentType: 'image/png' })] });
  });

  it('the job\'s socket got its complete event before the server closed', async () => {
    await probe.closed;
    expect(probe.messages.find((m: Message) => m.type === 'complete')).toMatchObject({ status: 'succeeded' });
  });

  it('while draining: /healthz 200, /readyz 503 PETCUT_E_SHUTTING_DOWN with Retry-After, /health 503 shutting_down', () => {
    expect(during.healthz!.statusCode).toBe(200);
    expectError(during.readyz!, 503, 'PETCUT_E_SHUTTING_DOWN');
    expect(during.readyz!.headers['retry-after']).toBeDefined();
    expect(during.health!.statusCode).toBe(503);
    expect(JSON.parse(during.health!.body)).toMatchObject({ status: 'shutting_down' });
  });

  it('while draining, a new job is refused with 503 PETCUT_E_SHUTTING_DOWN', () => {
    expectError(during.job!, 503, 'PETCUT_E_SHUTTING_DOWN');
    expect(during.job!.headers['retry-after']).toBeDefined();
  });

  it('while draining, a new cut-out is refused with 503 PETCUT_E_SHUTTING_DOWN', () => {
    expectError(during.cutout!, 503, 'PETCUT_E_SHUTTING_DOWN');
  });

  it('after shutdown the server no longer listens', () => {
    expect(reachableAfter).toBe(false);
  });
});
