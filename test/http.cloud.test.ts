import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import type { PetcutApp } from '../src/app.js';
import { LEDGER_PREFIX } from '../src/cost/index.js';
import { openLedger } from '../src/cost/ledger.js';
import { buildReport } from '../src/cost/report.js';
import type { Engine } from '../src/engine/engine.js';
import { loadServiceConfig } from '../src/config.js';
import { createGcsStore } from '../src/storage/gcsStore.js';
import { createS3Store } from '../src/storage/s3Store.js';
import type { ObjectStore } from '../src/storage/store.js';
import { form, OPERATOR, OPERATOR_KEYS, photo, sniff, startEngine } from './support/app.js';
import { startGcsServer } from './support/gcsServer.js';
import { startS3Server } from './support/s3Server.js';

/**
 * The service on cloud storage, end to end: a job's original and result land
 * in the bucket under the session's tier, the order moves them to the
 * order_completed prefix, the image URL keeps working, and the cache serves
 * a repeat from the bucket. S3 runs against s3rver (listings paged by our
 * shim, not s3rver: test/support/s3Server.ts), GCS against the loopback
 * server speaking the JSON API, both through the real client libraries.
 */
let engine: Engine;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  engine = await startEngine();
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await engine.close();
});

async function appOn(store: ObjectStore, env: Record<string, string> = {}): Promise<PetcutApp> {
  const config = loadServiceConfig({ PETCUT_LOG_LEVEL: 'silent', PETCUT_SWEEP_INTERVAL_S: '0', PETCUT_OPERATOR_KEYS: OPERATOR_KEYS, PETCUT_COST_LEDGER: 'off', ...env });
  const app = await createApp(config, { engine, store, logger: false });
  closers.push(() => app.close());
  return app;
}

const backends: Array<[string, () => Promise<ObjectStore>]> = [
  ['s3', async () => {
    const server = await startS3Server();
    closers.push(() => server.close());
    return createS3Store({ bucket: server.bucket, endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: server.credentials });
  }],
  ['gcs', async () => {
    const server = await startGcsServer();
    closers.push(() => server.close());
    return createGcsStore({ bucket: server.bucket, apiEndpoint: server.endpoint, projectId: 'petcut-test' });
  }],
];

describe.each(backends)('service on %s storage', (_name, makeStore) => {
  it('uploads a copy of its cost ledger to the bucket, which the report reads', async () => {
    const store = await makeStore();
    const dir = await mkdtemp(join(tmpdir(), 'petcut-cloud-ledger-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const app = await appOn(store, { PETCUT_COST_LEDGER: join(dir, 'ledger-{instance}.sqlite') });
    const session = `ledger-${_name}-session`;
    const created = await app.inject({ method: 'POST', url: '/v1/jobs?size=preview', headers: { 'x-session-id': session }, payload: form([{ data: await photo(200, 160, 'jpeg', 7) }]) });
    expect(created.statusCode).toBe(202);
    await app.petcut.jobs.drain();
    // Closing writes the rest of the ledger and uploads its last copy.
    await app.close();
    const copies = await store.list(LEDGER_PREFIX);
    expect(copies.map((o) => o.key)).toEqual([`${LEDGER_PREFIX}${app.petcut.cost!.meter.instance}.sqlite`]);
    const file = join(dir, 'copy.sqlite');
    await writeFile(file, (await store.get(copies[0]!.key))!.data);
    const ledger = openLedger(file, { readonly: true });
    const report = buildReport(ledger.read(0, Date.now() + 1000), { from: 0, to: Date.now() + 1000 });
    ledger.close();
    expect(report.images).toBe(1);
    expect(report.customers.map((c) => [c.sessions, c.images])).toEqual([[1, 1]]);
    expect(report.spend.total).toBeGreaterThan(0);
  });

  it('stores a job\'s images under the session tier, moves them on order, and keeps the URL', async () => {
    const store = await makeStore();
    const app = await appOn(store);
    const session = `cloud-${_name}-session`;
    const created = await app.inject({ method: 'POST', url: '/v1/jobs?size=preview', headers: { 'x-session-id': session }, payload: form([{ data: await photo(240, 180) }]) });
    expect(created.statusCode).toBe(202);
    const jobId = created.json<{ id: string }>().id;
    await app.petcut.jobs.drain();
    const job = (await app.inject(`/v1/jobs/${jobId}`)).json<{ status: string; files: Array<{ results: Array<{ url: string; imageId: string }> }> }>();
    expect(job.status).toBe('succeeded');
    const result = job.files[0]!.results[0]!;
    const before = await store.list(`sessions/temporary/${session}/`);
    expect(before.map((o) => o.metadata.kind).sort()).toEqual(['cutout', 'original']);

    const order = await app.inject({ method: 'POST', url: `/v1/sessions/${session}/order`, headers: OPERATOR, payload: { status: 'completed' } });
    expect(order.statusCode).toBe(200);
    expect(order.json<{ moved: number }>().moved).toBe(2);
    expect(await store.list(`sessions/temporary/${session}/`)).toHaveLength(0);
    expect(await store.list(`sessions/order_completed/${session}/`)).toHaveLength(2);

    const image = await app.inject(new URL(result.url).pathname);
    expect(image.statusCode).toBe(200);
    expect(image.headers['x-tier']).toBe('order_completed');
    expect(sniff(image.rawPayload)).toBe('png');
  });

  it('answers a repeated upload from the cache in the bucket', async () => {
    const store = await makeStore();
    const app = await appOn(store);
    const input = await photo(200, 150, 'png', 7);
    const first = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: input, headers: { 'content-type': 'image/png' } });
    expect(first.headers['x-cache']).toBe('MISS');
    await app.petcut.processing.drain();
    expect((await store.list('cache/render/')).length).toBeGreaterThan(0);
    expect((await store.list('cache/cutout/')).length).toBe(1);
    // A second app on the same bucket has an empty memory cache: the hit comes from the store.
    const again = await appOn(store);
    const second = await again.inject({ method: 'POST', url: '/v1/cutouts', payload: input, headers: { 'content-type': 'image/png' } });
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.rawPayload.equals(first.rawPayload)).toBe(true);
    // Another format of the same photo is rendered from the stored cut-out, without the model.
    const webp = await again.inject({ method: 'POST', url: '/v1/cutouts?format=webp&quality=90', payload: input, headers: { 'content-type': 'image/png' } });
    expect(webp.headers['x-cache']).toBe('HIT-CUTOUT');
    expect(webp.headers['x-mask-confidence']).toBe(first.headers['x-mask-confidence']);
    expect(sniff(webp.rawPayload)).toBe('webp');
    const alpha = async (data: Buffer) => sharp(data).ensureAlpha().extractChannel(3).raw().toBuffer();
    const [a, b] = await Promise.all([alpha(first.rawPayload), alpha(webp.rawPayload)]);
    expect(b.length).toBe(a.length);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
    expect(diff / a.length).toBeLessThan(1); // WebP keeps alpha losslessly at alphaQuality 100
  });
});

describe('signed URLs through the service (S3, s3rver)', () => {
  it('a stored session image comes with a time-limited signed URL serving the same bytes as its stable URL', async () => {
    const server = await startS3Server();
    closers.push(() => server.close());
    const store = createS3Store({ bucket: server.bucket, endpoint: server.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: server.credentials, signedUrls: true });
    const app = await appOn(store, { PETCUT_SIGNED_URLS: 'true', PETCUT_SIGNED_URL_TTL_S: '600', PETCUT_STORAGE: 's3', PETCUT_BUCKET: server.bucket });
    const stored = await app.inject({ method: 'POST', url: '/v1/sessions/signed-session-1/images', payload: form([{ data: await photo(120, 90) }]) });
    expect(stored.statusCode, stored.body).toBe(201);
    const view = stored.json<{ url: string; signedUrl?: string }>();
    expect(view.signedUrl).toBeDefined();
    const signed = new URL(view.signedUrl!);
    expect(signed.searchParams.get('X-Amz-Expires')).toBe('600');
    const direct = Buffer.from(await (await fetch(signed)).arrayBuffer());
    const stable = (await app.inject({ method: 'GET', url: new URL(view.url).pathname })).rawPayload;
    expect(sniff(direct)).toBe('jpeg');
    expect(direct.equals(stable)).toBe(true);
    // SigV4 query signing for the bucket's own credential (s3rver serves presigned URLs without checking the signature: never run against real S3 here).
    expect(signed.searchParams.get('X-Amz-Credential')).toMatch(new RegExp(`^${server.credentials.accessKeyId}/`));
    expect(signed.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    // The listing carries them too.
    const listed = (await app.inject({ method: 'GET', url: '/v1/sessions/signed-session-1/images' })).json<{ images: Array<{ signedUrl?: string }> }>();
    expect(listed.images[0]!.signedUrl).toMatch(/X-Amz-Signature=/);
  });
});
