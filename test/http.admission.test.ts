import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import type { ControlledStore } from './support/app.js';
import { buildApp, controlledStore, expectError, form, listen, photo, startEngine } from './support/app.js';
import { filePartHead, rawRequest, statusOf, uploadHead } from './support/rawHttp.js';

/**
 * Bounded uploads and admission (issue #12, item 4). Room (a slot, and the
 * body's bytes) is reserved before a body is read; the bytes of all uploads
 * in flight are capped; a body that stalls is cut off within its pace
 * window; a job reserves for every file; admission stops where a new photo
 * would wait past the deadline; a client that leaves gives its room back.
 * Everything here waits on the service's own state, never on a sleep.
 */
const MB = 1024 * 1024;
let engine: Engine;

beforeAll(async () => {
  engine = await startEngine();
});
afterAll(async () => {
  await engine?.close();
});

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function closeApp(app: PetcutApp): Promise<void> {
  await app.petcut.processing.drain();
  await app.close();
}

describe('the stalled-upload attack', () => {
  /** Attackers that send 28 MB of a declared 29 MB and stall, from the given local addresses (one each, round robin). */
  async function attack(env: Record<string, string>, addresses: readonly string[], count: number) {
    const { app } = await buildApp(engine, { env: { PETCUT_UPLOAD_GRACE_S: '2', PETCUT_QUEUE_MAX: '8', ...env } });
    const base = await listen(app);
    const warm = await app.inject({ method: 'POST', url: '/v1/cutouts?size=64', payload: form([{ data: await photo(160, 120) }]) });
    expect(warm.statusCode).toBe(200);
    const rssBefore = process.memoryUsage.rss();
    const filler = Buffer.alloc(28 * MB, 0x41);
    const attackers = Array.from({ length: count }, (_, i) => {
      const exchange = rawRequest(base, uploadHead('/v1/cutouts', 29 * MB) + filePartHead(), addresses[i % addresses.length]);
      exchange.write(filler);
      return exchange;
    });
    let peakBytes = 0;
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakBytes = Math.max(peakBytes, app.petcut.capacity.status().uploadBytes);
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }, 20);
    // While the attack holds what it could get, a shopper from another address is served.
    await until(() => attackers.filter((a) => [429, 503].includes(statusOf(a.received()))).length >= count - 6, 'the refusals');
    const served = await app.inject({ method: 'POST', url: '/v1/cutouts?size=64', remoteAddress: '198.51.100.80', payload: form([{ data: await photo(160, 120, 'jpeg', 7) }]) });
    const answers = await Promise.all(attackers.map((a) => a.answered()));
    clearInterval(sampler);
    attackers.forEach((a) => a.destroy());
    await until(() => app.petcut.capacity.status().inFlight === 0 && app.petcut.capacity.status().uploadBytes === 0, 'the room to come back');
    await closeApp(app);
    const statuses = answers.map(statusOf);
    return { served, answers, statuses, peakBytes, rssGrowthMb: (peakRss - rssBefore) / MB, count: (status: number) => statuses.filter((s) => s === status).length };
  }

  it('30 uploads of 29 MB from one address that stall after 28 MB: 4 admitted (the address\'s bound), the rest 429 before their body, those 4 cut off, a real cut-out served meanwhile', async () => {
    const result = await attack({ PETCUT_UPLOAD_BUFFER_MB: '200', PETCUT_UPLOADS_PER_ADDRESS: '4' }, ['127.0.0.1'], 30);
    expect(result.served.statusCode, result.served.body).toBe(200);
    // As the first four are cut off a few late ones may take their place; none ever holds more than the address's 4.
    expect(result.count(429)).toBeGreaterThanOrEqual(20);
    expect(result.count(429) + result.count(408)).toBe(30);
    expect(result.answers.filter((a) => statusOf(a) === 429).every((a) => /PETCUT_E_RATE_LIMITED/.test(a) && /at once from this address/.test(a))).toBe(true);
    expect(result.answers.filter((a) => statusOf(a) === 408).every((a) => /arriving too slowly/.test(a) && /connection: close/i.test(a))).toBe(true);
    // Four declared bodies, plus the shopper's chunked upload (held a megabyte at a time).
    expect(result.peakBytes).toBeLessThanOrEqual(4 * 29 * MB + 2 * MB);
    // Before: 30 x 28 MB held (840 MB). The bound: four bodies, plus the copies of one concatenation.
    expect(result.rssGrowthMb).toBeLessThan(350);
  });

  it('the same from 12 addresses: the 100 MB upload buffer admits three, the rest 503 before their body, a real cut-out served meanwhile', async () => {
    const addresses = Array.from({ length: 12 }, (_, i) => `127.0.1.${i + 1}`);
    const result = await attack({ PETCUT_UPLOAD_BUFFER_MB: '100', PETCUT_UPLOADS_PER_ADDRESS: '4' }, addresses, 12);
    expect(result.served.statusCode, result.served.body).toBe(200);
    expect(result.count(503)).toBeGreaterThanOrEqual(8);
    expect(result.count(503) + result.count(408)).toBe(12);
    expect(result.answers.filter((a) => statusOf(a) === 503).every((a) => /PETCUT_E_OVERLOADED/.test(a) && /retry-after: \d+/i.test(a))).toBe(true);
    expect(result.peakBytes).toBeLessThanOrEqual(100 * MB);
    expect(result.rssGrowthMb).toBeLessThan(350);
  });

  it('a refusal is decided on the headers: the 503 comes with no byte of the body sent', async () => {
    const { app } = await buildApp(engine, { env: { PETCUT_QUEUE_MAX: '0' } });
    const base = await listen(app);
    // Two uploads whose bodies never come hold both slots (concurrency 2, no queue)...
    const holders = [rawRequest(base, uploadHead('/v1/cutouts', MB)), rawRequest(base, uploadHead('/v1/cutouts', MB))];
    await until(() => app.petcut.capacity.status().inFlight === 2, 'two reservations');
    // ...so a third is refused on its headers alone.
    const third = rawRequest(base, uploadHead('/v1/cutouts', 5 * MB));
    const answer = await third.answered();
    expect(statusOf(answer)).toBe(503);
    expect(answer).toMatch(/PETCUT_E_OVERLOADED/);
    expect(app.petcut.capacity.status().uploadBytes).toBe(2 * MB);
    // Clients that leave give their room back.
    [...holders, third].forEach((h) => h.destroy());
    await until(() => app.petcut.capacity.status().inFlight === 0 && app.petcut.capacity.status().uploadBytes === 0, 'the room to come back');
    await closeApp(app);
  });

  it('a body declared larger than a request may be is refused at once (413), and the connection closed', async () => {
    const { app } = await buildApp(engine);
    const base = await listen(app);
    const exchange = rawRequest(base, uploadHead('/v1/cutouts', 200 * MB));
    const answer = await exchange.answered();
    expect(statusOf(answer)).toBe(413);
    expect(answer).toMatch(/connection: close/i);
    await exchange.closed;
    expect(app.petcut.capacity.status().inFlight).toBe(0);
    await closeApp(app);
  });

  it('a trickle below the pace floor is cut off after one window (408), its room given back', async () => {
    const { app } = await buildApp(engine, { env: { PETCUT_UPLOAD_GRACE_S: '2', PETCUT_UPLOAD_MIN_KBPS: '32' } });
    const base = await listen(app);
    const exchange = rawRequest(base, uploadHead('/v1/cutouts', MB) + filePartHead());
    const trickle = setInterval(() => exchange.write(Buffer.alloc(1024, 0x42)), 200);
    const answer = await exchange.answered();
    clearInterval(trickle);
    expect(statusOf(answer)).toBe(408);
    expect(answer).toMatch(/PETCUT_E_REQUEST_TIMEOUT/);
    await until(() => app.petcut.capacity.status().inFlight === 0 && app.petcut.capacity.status().uploadBytes === 0, 'the room to come back');
    exchange.destroy();
    await closeApp(app);
  });
});

describe('admission by deadline and by slots', () => {
  let app: PetcutApp;
  let control: ControlledStore;
  beforeAll(async () => {
    ({ app } = await buildApp(engine, { wrapStore: (inner) => (control = controlledStore(inner)).store, env: { PETCUT_QUEUE_MAX: '8', PETCUT_ADMISSION_DEADLINE_S: '5' } }));
  });
  afterAll(async () => closeApp(app));

  it('admits while a new photo would be done within the deadline at the measured pace, then 503 with a Retry-After from the drain rate', async () => {
    // Three cut-outs held at their cache lookup are in the engine's hands (working) but go nowhere.
    const photos = await Promise.all([0, 1, 2, 3].map((i) => photo(96, 72, 'jpeg', i * 3)));
    const keys = new Set(photos.map((data) => `cache/alias/${createHash('sha256').update(data).digest('hex')}`));
    const release = control.hold((op, key) => op === 'get' && keys.has(key));
    const held = photos.slice(0, 3).map((data) => app.inject({ method: 'POST', url: '/v1/cutouts?size=48', payload: form([{ data }]) }));
    await until(() => app.petcut.capacity.status().working === 3, 'three photos in the engine\'s hands');
    // Before any measured run the pace is the 3 s estimate: with 2 workers, a 4th photo would take (4 - 2) / (2/3) + 3 = 6 s > 5 s.
    const status = app.petcut.capacity.status();
    expect(status.serviceS).toBe(3);
    const refused = await app.inject({ method: 'POST', url: '/v1/cutouts?size=48', payload: form([{ data: photos[3]! }]) });
    expectError(refused, 503, 'PETCUT_E_OVERLOADED');
    expect(refused.json<{ error: { message: string } }>().error.message).toMatch(/would wait past 5 s/);
    // One photo over what fits, drained at 2/3 per second: 2 s.
    expect(refused.headers['retry-after']).toBe('2');
    release();
    expect((await Promise.all(held)).map((r) => r.statusCode)).toEqual([200, 200, 200]);
    // The pace is now measured from those runs; the room is back and the 4th goes through.
    expect(app.petcut.capacity.status().serviceS).not.toBe(3);
    expect(app.petcut.capacity.status()).toMatchObject({ inFlight: 0, working: 0, uploadBytes: 0 });
    expect((await app.inject({ method: 'POST', url: '/v1/cutouts?size=48', payload: form([{ data: photos[3]! }]) })).statusCode).toBe(200);
  });
});

describe('jobs reserve for every file', () => {
  it('with room for 4 images and 1 taken, a job of 4 files is refused before its 4th file is read, a job of 3 accepted; nothing is left held', async () => {
    let control!: ControlledStore;
    const { app } = await buildApp(engine, { wrapStore: (inner) => (control = controlledStore(inner)).store, env: { PETCUT_QUEUE_MAX: '2', PETCUT_FILES_PER_JOB: '4', PETCUT_ADMISSION_DEADLINE_S: '0' } });
    const blocker = await photo(80, 60, 'jpeg', 30);
    const release = control.hold((op, key) => op === 'get' && key === `cache/alias/${createHash('sha256').update(blocker).digest('hex')}`);
    const held = app.inject({ method: 'POST', url: '/v1/cutouts?size=48', payload: form([{ data: blocker }]) });
    await until(() => app.petcut.capacity.status().working === 1, 'one photo held');
    const heldBytes = app.petcut.capacity.status().uploadBytes;
    const files = await Promise.all([0, 1, 2, 3].map(async (i) => ({ data: await photo(64, 48, 'jpeg', i * 2) })));
    const four = await app.inject({ method: 'POST', url: '/v1/jobs?size=48', payload: form(files) });
    expectError(four, 503, 'PETCUT_E_OVERLOADED');
    expect(app.petcut.jobs.active()).toBe(0);
    expect(app.petcut.capacity.status()).toMatchObject({ inFlight: 1, uploadBytes: heldBytes });
    const three = await app.inject({ method: 'POST', url: '/v1/jobs?size=48', payload: form(files.slice(0, 3)) });
    expect(three.statusCode, three.body).toBe(202);
    // The job holds its three slots until its files are done.
    expect(app.petcut.capacity.status().inFlight).toBeGreaterThan(1);
    release();
    expect((await held).statusCode).toBe(200);
    await app.petcut.jobs.drain();
    expect(app.petcut.capacity.status()).toMatchObject({ inFlight: 0, working: 0, uploadBytes: 0 });
    await closeApp(app);
  });
});

describe('a client that hangs up gives back its room', () => {
  it('queued behind two large photos, an aborted request leaves the queue and its slot at once', async () => {
    const { app } = await buildApp(engine, { env: { PETCUT_ADMISSION_DEADLINE_S: '0' } });
    const base = await listen(app);
    const large = await Promise.all([0, 1].map((i) => photo(2400, 1800, 'jpeg', i * 40)));
    const busy = large.map((data) => fetch(`${base}/v1/cutouts?size=64`, { method: 'POST', body: form([{ data }]) }));
    const engineNow = (): { queued: number } => ({ queued: app.petcut.engine.current()!.queued() });
    await until(() => app.petcut.capacity.status().working === 2 && engineNow().queued === 0, 'two photos in the workers');
    const leaving = new AbortController();
    const third = fetch(`${base}/v1/cutouts?size=64`, { method: 'POST', body: form([{ data: await photo(96, 72) }]), signal: leaving.signal }).catch((error: unknown) => error);
    await until(() => engineNow().queued === 1 && app.petcut.capacity.status().working === 3, 'the third photo queued');
    leaving.abort();
    await third;
    await until(() => engineNow().queued === 0 && app.petcut.capacity.status().inFlight === 2, 'the aborted photo to leave the queue');
    expect(app.petcut.capacity.status()).toMatchObject({ working: 2 });
    expect((await Promise.all(busy)).map((r) => r.status)).toEqual([200, 200]);
    await until(() => app.petcut.capacity.status().inFlight === 0, 'the room to come back');
    expect(app.petcut.capacity.status().uploadBytes).toBe(0);
    await closeApp(app);
  });

  it('mid-upload: the reservation (slot and bytes) is released as the connection drops', async () => {
    const { app } = await buildApp(engine);
    const base = await listen(app);
    const exchange = rawRequest(base, uploadHead('/v1/cutouts', 4 * MB) + filePartHead());
    exchange.write(Buffer.alloc(256 * 1024, 0x43));
    await until(() => app.petcut.capacity.status().uploadBytes === 4 * MB, 'the reservation');
    exchange.destroy();
    await until(() => app.petcut.capacity.status().inFlight === 0 && app.petcut.capacity.status().uploadBytes === 0, 'the room to come back');
    await closeApp(app);
  });
});
