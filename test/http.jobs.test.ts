import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { ControlledStore, JobView, Message } from './support/app.js';
import { buildApp, controlledStore, expectError, finishedJob, form, listen, pathOf, photo, Probe, refusedUpgrade, sniff, startEngine } from './support/app.js';
import { until } from './support/wait.js';

let app: PetcutApp;
let store: ControlledStore;
let base: string;
let photos: Buffer[]; // three different 320x240 JPEGs
const SESSION = 'shopper-0001';

beforeAll(async () => {
  const engine = await startEngine();
  ({ app } = await buildApp(engine, {
    env: { PETCUT_WS_PING_S: '1', PETCUT_FILES_PER_JOB: '4' },
    wrapStore: (inner) => (store = controlledStore(inner)).store,
  }));
  base = await listen(app);
  photos = await Promise.all([0, 12, 24].map((shift) => photo(320, 240, 'jpeg', shift)));
});
afterAll(async () => {
  await app?.shutdown();
});

const postJob = async (files: Buffer[], query = '', headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${base}/v1/jobs${query}`, { method: 'POST', body: form(files.map((data, i) => ({ data, filename: `pet-${i}.jpg` }))), headers });

const ORDER = ['cache', 'queued', 'decode', 'segmentation', 'refine', 'effect', 'encode', 'store'];
let finished: JobView; // the three-file job of the first test, once done
let recorded: Message[] = []; // what its socket received

describe('jobs and their progress', () => {
  it('202 with id, URLs and the session; the socket streams state, ordered stages, then complete', async () => {
    // The first file waits at its cache lookup until the client listens, so every later stage is seen live.
    const release = store.hold((op, key) => op === 'get' && key.startsWith('cache/alias/'));
    const response = await postJob(photos, '', { 'x-session-id': SESSION });
    expect(response.status).toBe(202);
    expect(response.headers.get('x-session-id')).toBe(SESSION);
    const job = (await response.json()) as JobView;
    expect(job).toMatchObject({ status: expect.stringMatching(/^(queued|running)$/), sessionId: SESSION });
    expect(response.headers.get('location')).toBe(job.statusUrl);
    expect(job.statusUrl).toBe(`${base}/v1/jobs/${job.id}`);
    expect(job.eventsUrl).toBe(`${base.replace('http', 'ws')}/v1/jobs/${job.id}/events`);
    expect(job.files.map((f) => f.name)).toEqual(['pet-0.jpg', 'pet-1.jpg', 'pet-2.jpg']);

    const probe = new Probe(job.eventsUrl);
    await probe.next((m) => m.type === 'state');
    release();
    expect(await probe.closed).toBe(1000);
    const [state, ...events] = probe.messages;
    // File 0's cache check began before the 202: the state carries it.
    expect(state).toMatchObject({ type: 'state', job: { id: job.id, status: 'running', progress: { type: 'stage', stage: 'cache', file: 0 } } });
    expect(events.at(-1)).toMatchObject({ type: 'complete', status: 'succeeded', percent: 100, succeeded: 3, failed: 0 });
    const stages = events.filter((m): m is Message & { stage: string; file: number; percent: number; etaSeconds: number } => m.type === 'stage');
    for (const file of [0, 1, 2]) {
      const seen = stages.filter((m) => m.file === file).map((m) => m.stage);
      expect(seen, `file ${file}`).toEqual(expect.arrayContaining(['segmentation', 'encode', 'store']));
      if (file > 0) expect(seen[0], `file ${file}`).toBe('cache');
      const ranks = seen.map((stage) => ORDER.indexOf(stage));
      expect(ranks.every((rank) => rank >= 0), seen.join(',')).toBe(true);
      expect(ranks, `file ${file}: ${seen.join(',')}`).toEqual([...ranks].sort((a, b) => a - b));
    }
    expect(stages.map((m) => m.file)).toEqual([...stages.map((m) => m.file)].sort());
    for (const m of stages) {
      expect(typeof m.etaSeconds).toBe('number');
      expect(m.etaSeconds).toBeGreaterThanOrEqual(0);
      expect(m).toMatchObject({ jobId: job.id, of: 3, message: expect.any(String) });
    }
    recorded = probe.messages;
    finished = await finishedJob(app, job.id);
  });

  it('percent never goes backwards, from the state message on', () => {
    const [state, ...events] = recorded;
    expect(state?.type).toBe('state');
    const percents = [(state as Message & { job: JobView }).job.progress, ...events]
      .filter((m) => m.type === 'stage' || m.type === 'complete')
      .map((m) => ({ label: `file ${String(m.file)} ${String(m.stage ?? m.type)}`, percent: Number(m.percent) }));
    expect(percents.length).toBeGreaterThan(10);
    for (let i = 1; i < percents.length; i++) {
      const [a, b] = [percents[i - 1]!, percents[i]!];
      expect(b.percent, `${a.label} ${a.percent}% -> ${b.label} ${b.percent}%`).toBeGreaterThanOrEqual(a.percent);
    }
  });

  it('a file waiting for a free worker gets queued events with its position, and percent still never goes back', async () => {
    // Two synchronous cut-outs take both pipeline workers; the job's file has to wait for one. Big enough
    // (1280x960) to be still in the workers when the file arrives, also where the model is fast.
    const busy = [48, 60].map(async (shift) => app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: await photo(1280, 960, 'jpeg', shift) }]) }));
    await until(() => app.petcut.engine.current()!.inFlight() >= 2, 'both cut-outs to take a pipeline worker', 30_000, 5);
    const release = store.hold((op, key) => op === 'get' && key.startsWith('cache/alias/'));
    const job = (await (await postJob([await photo(320, 240, 'jpeg', 72)])).json()) as JobView;
    const probe = new Probe(job.eventsUrl);
    await probe.next((m) => m.type === 'state');
    release();
    await probe.closed;
    expect((await Promise.all(busy)).map((r) => r.statusCode)).toEqual([200, 200]);
    const [state, ...events] = probe.messages as Array<Message & { stage?: string; percent?: number; position?: number; job?: JobView }>;
    const queued = events.find((m) => m.stage === 'queued');
    expect(queued, events.map((m) => m.stage ?? m.type).join(',')).toMatchObject({ position: 1, etaSeconds: expect.any(Number) });
    const percents = [state!.job!.progress as { stage: string; percent: number }, ...events.filter((m) => m.type === 'stage' || m.type === 'complete')]
      .map((m) => ({ label: String(m.stage ?? 'complete'), percent: Number(m.percent) }));
    for (let i = 1; i < percents.length; i++) {
      const [a, b] = [percents[i - 1]!, percents[i]!];
      expect(b.percent, `${a.label} ${a.percent}% -> ${b.label} ${b.percent}%`).toBeGreaterThanOrEqual(a.percent);
    }
  });

  it('GET /v1/jobs/:id lists results whose session URLs serve the images', async () => {
    expect(finished.status).toBe('succeeded');
    expect(finished.files.map((f) => f.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    for (const file of finished.files) {
      expect(file.results).toHaveLength(1);
      const result = file.results![0]!;
      expect(result.url).toMatch(new RegExp(`/v1/sessions/${SESSION}/images/`));
      // The view's URLs follow the request that asked for it (here an inject's localhost): fetched from the real socket.
      const image = await fetch(`${base}${pathOf(result.url)}`);
      expect(image.status).toBe(200);
      expect(image.headers.get('content-type')).toBe('image/png');
      const bytes = Buffer.from(await image.arrayBuffer());
      expect(bytes.length).toBe(result.bytes);
      expect(await sharp(bytes).metadata()).toMatchObject({ format: 'png', width: result.width, height: result.height, channels: 4 });
      const original = await fetch(`${base}${pathOf(file.originalUrl!)}`);
      expect(original.headers.get('content-type')).toBe('image/jpeg');
      expect(sniff(Buffer.from(await original.arrayBuffer()))).toBe('jpeg');
    }
  });

  it('a client connecting after the job finished gets its state and the complete event', async () => {
    const probe = new Probe(`${base.replace('http', 'ws')}/v1/jobs/${finished.id}/events`);
    expect(await probe.closed).toBe(1000);
    expect(probe.messages.map((m) => m.type)).toEqual(['state', 'complete']);
    expect(probe.messages[0]).toMatchObject({ job: { id: finished.id, status: 'succeeded' } });
    expect(probe.messages[1]).toMatchObject({ status: 'succeeded', succeeded: 3 });
  });
});

describe('the events socket', () => {
  it('mid-job: first the current state; ping/pong; malformed messages get a coded error and the socket stays usable; server pings', async () => {
    const release = store.hold((op, key) => op === 'put' && key.startsWith('sessions/'));
    try {
      const job = (await (await postJob([photos[0]!])).json()) as JobView;
      // The socket opens mid-job: once the file has reached the held store (a cache hit gets there in milliseconds,
      // as fast as a socket opens, so opening at once would race the stage the state message reports).
      await until(() => app.petcut.jobs.get(job.id)?.last?.type === 'stage' && (app.petcut.jobs.get(job.id)?.last as { stage?: string }).stage === 'store', 'the job to reach its held store', 30_000, 5);
      const probe = new Probe(job.eventsUrl);
      const state = await probe.next((m) => m.type === 'state');
      expect(state).toMatchObject({ job: { id: job.id, status: 'running', progress: { type: 'stage', stage: 'store' } } });
      expect(probe.messages[0]).toBe(state);
      probe.send({ type: 'ping' });
      await probe.next((m) => m.type === 'pong');
      for (const bad of ['not json', '{"type":"subscribe"}', '[1,2]', 'null']) {
        const from = probe.messages.length;
        probe.send(bad);
        expect(await probe.next((m) => m.type === 'error', from), bad).toMatchObject({ code: 'PETCUT_E_BAD_REQUEST', message: expect.any(String) });
      }
      const from = probe.messages.length;
      probe.send({ type: 'ping' });
      await probe.next((m) => m.type === 'pong', from);
      await probe.until(() => probe.pings > 0, 5000, 'server ping');
      // A second client that vanishes mid-job changes nothing for the first.
      const quitter = new Probe(job.eventsUrl);
      await quitter.next((m) => m.type === 'state');
      quitter.close();
      release();
      expect(await probe.next((m) => m.type === 'complete')).toMatchObject({ status: 'succeeded' });
      expect(await probe.closed).toBe(1000);
      expect((await finishedJob(app, job.id)).files[0]).toMatchObject({ status: 'succeeded', cache: 'hit' });
    } finally {
      release();
    }
  });

  it('an unknown job: GET 404 and the WebSocket upgrade refused with 404', async () => {
    expectError(await app.inject({ method: 'GET', url: '/v1/jobs/3f1c0c8e-0000-4000-8000-000000000000' }), 404, 'PETCUT_E_JOB_NOT_FOUND');
    expect(await refusedUpgrade(`${base.replace('http', 'ws')}/v1/jobs/nope/events`)).toBe(404);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

describe('bad input to jobs', () => {
  it('a batch with one bad file: the job succeeds, that file failed with a coded error', async () => {
    const response = await fetch(`${base}/v1/jobs`, { method: 'POST', body: form([{ data: Buffer.from('just some text'), type: 'text/plain', filename: 'notes.txt' }, { data: photos[1]! }]) });
    expect(response.status).toBe(202);
    const sessionId = response.headers.get('x-session-id');
    expect(sessionId).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    const job = await finishedJob(app, ((await response.json()) as JobView).id);
    expect(job.sessionId).toBe(sessionId);
    expect(job.status).toBe('succeeded');
    expect(job.files[0]).toMatchObject({ status: 'failed', error: { code: 'PETCUT_E_UNSUPPORTED_FORMAT', message: expect.any(String) } });
    expect(job.files[0]!.results).toBeUndefined();
    expect(job.files[1]).toMatchObject({ status: 'succeeded', results: [expect.objectContaining({ contentType: 'image/png' })] });
    const corrupt = await postJob([photos[2]!.subarray(0, 2000)]);
    const failed = await finishedJob(app, ((await corrupt.json()) as JobView).id);
    expect(failed).toMatchObject({ status: 'failed', files: [{ status: 'failed', error: { code: 'PETCUT_E_CORRUPT_IMAGE' } }] });
    expect(failed.progress).toMatchObject({ type: 'complete', status: 'failed', failed: 1 });
  });

  it('refused requests: no file, bad option, too many files, bad session header; no capacity is leaked', async () => {
    expectError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: form([], { format: 'png' }) }), 400, 'PETCUT_E_MISSING_FILE');
    expectError(await app.inject({ method: 'POST', url: '/v1/jobs?format=no-such-format', payload: form([{ data: photos[0]! }]) }), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await app.inject({ method: 'POST', url: '/v1/jobs?effects=no-such-effect', payload: form([{ data: photos[0]! }]) }), 400, 'PETCUT_E_UNKNOWN_EFFECT');
    expectError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: form([0, 1, 2, 3, 4].map(() => ({ data: photos[0]! }))) }), 400, 'PETCUT_E_BAD_REQUEST');
    expectError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: form([{ data: photos[0]! }]), headers: { 'x-session-id': '../../etc' } }), 400, /^PETCUT_E_(INVALID_SESSION_ID|INVALID_OPTION)$/);
    expect(app.petcut.capacity.status().inFlight).toBe(0);
    expect(app.petcut.jobs.active()).toBe(0);
  });
});

