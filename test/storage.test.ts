import { GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import type { LifecycleRule as S3Rule } from '@aws-sdk/client-s3';
import type { LifecycleRule as GcsRule } from '@google-cloud/storage';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPetcutError } from '../src/errors.js';
import { createFsStore } from '../src/storage/fsStore.js';
import type { FsStore } from '../src/storage/fsStore.js';
import { createGcsStore, mergeGcsLifecycle } from '../src/storage/gcsStore.js';
import type { GcsStoreOptions } from '../src/storage/gcsStore.js';
import { createStore } from '../src/storage/index.js';
import type { ExpiryRule, ObjectStore } from '../src/storage/index.js';
import { createS3Store, mergeS3Lifecycle } from '../src/storage/s3Store.js';
import { startGcsServer } from './support/gcsServer.js';
import type { GcsTestServer } from './support/gcsServer.js';
import { startS3Server } from './support/s3Server.js';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Resolves to the error's code, failing the test when the promise resolves or rejects with something uncoded. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(() => new Error('expected a rejection'), (e: unknown) => e);
  if (!isPetcutError(error)) throw error;
  return error.code;
}

interface Harness {
  readonly store: ObjectStore;
  /** Sets an operator's rule on `logs/`, then reads back "id-or-prefix:days" for every rule; absent where lifecycle is unsupported. */
  readonly lifecycle?: { seedOperatorRule(): Promise<void>; rules(): Promise<string[]> };
  checkSignedUrl?(url: string, key: string, data: Buffer): Promise<void>;
  close(): Promise<void>;
}

async function fsHarness(): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'petcut-fs-'));
  return { store: createFsStore({ root }), close: () => rm(root, { recursive: true, force: true }) };
}

/**
 * s3rver with our shims (test/support/s3Server.ts): the lifecycle API is a fake
 * of ours (s3rver has none: it stores the XML and hands it back), and listings
 * are paged by our shim, not by s3rver. So the S3 lifecycle and paging checks
 * below show the adapter's side through the real SDK, not S3's.
 */
async function s3Harness(): Promise<Harness> {
  const server = await startS3Server({ lifecycle: true });
  const options = { bucket: server.bucket, endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: server.credentials };
  const admin = new S3Client({ ...options, requestChecksumCalculation: 'WHEN_REQUIRED' });
  return {
    store: createS3Store({ ...options, signedUrls: true, listPageSize: 2 }),
    lifecycle: {
      seedOperatorRule: async () => {
        await admin.send(new PutBucketLifecycleConfigurationCommand({ Bucket: server.bucket, LifecycleConfiguration: { Rules: [{ ID: 'operator-logs', Filter: { Prefix: 'logs/' }, Status: 'Enabled', Expiration: { Days: 90 } }] } }));
      },
      rules: async () => ((await admin.send(new GetBucketLifecycleConfigurationCommand({ Bucket: server.bucket }))).Rules ?? [])
        .map((rule) => `${rule.ID}:${rule.Filter?.Prefix}:${rule.Expiration?.Days}`),
    },
    async checkSignedUrl(url, key, data) {
      expect(url).toContain(`/${server.bucket}/${key}?`);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(sha(Buffer.from(await response.arrayBuffer()))).toBe(sha(data));
    },
    close: async () => { admin.destroy(); await server.close(); },
  };
}

function serviceAccount(): { client_email: string; private_key: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { client_email: 'petcut-test@example.iam.gserviceaccount.com', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

async function gcsHarness(): Promise<Harness> {
  const server = await startGcsServer();
  const credentials = serviceAccount();
  return {
    store: createGcsStore({ bucket: server.bucket, apiEndpoint: server.endpoint, projectId: 'petcut-test', credentials, signedUrls: true }),
    lifecycle: {
      seedOperatorRule: async () => {
        server.bucketMetadata.lifecycle = { rule: [{ action: { type: 'Delete' }, condition: { age: 90, matchesPrefix: ['logs/'] } }] };
      },
      rules: async () => ((server.bucketMetadata.lifecycle as { rule: { condition: { age: number; matchesPrefix: string[] } }[] }).rule)
        .map(({ condition }) => `${condition.matchesPrefix.join()}:${condition.age}`),
    },
    async checkSignedUrl(url) {
      const signed = new URL(url);
      expect(signed.origin).toBe(server.endpoint); // v4 URLs are signed for the API host, here the fake
      expect(signed.pathname).toBe(`/${server.bucket}/signed/a.png`);
      expect(signed.searchParams.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
      expect(signed.searchParams.get('X-Goog-Credential')).toContain(credentials.client_email);
      expect(signed.searchParams.get('X-Goog-Expires')).toBe('600');
      expect(signed.searchParams.get('X-Goog-Signature')).toMatch(/^[0-9a-f]{512}$/); // RSA-2048
    },
    close: () => server.close(),
  };
}

describe.each([
  { name: 'fs', start: fsHarness },
  { name: 's3', start: s3Harness },
  { name: 'gcs', start: gcsHarness },
])('$name store contract', ({ name, start }) => {
  let h: Harness;
  let store: ObjectStore;
  beforeAll(async () => {
    h = await start();
    store = h.store;
  });
  afterAll(async () => h.close());

  it('pings and names itself', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    expect(store.name).toBe(name);
  });

  it('round-trips 3 MB of random bytes, content type and metadata', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await store.put('big/photo.png', data, { contentType: 'image/png', metadata: { kind: 'cutout', SourceId: 'abc-1', label: 'Bällchen 🐶' } });
    const got = await store.get('big/photo.png');
    expect(got && sha(got.data)).toBe(sha(data));
    expect(got).toMatchObject({ key: 'big/photo.png', size: data.length, contentType: 'image/png' });
    // Keys come back lower-cased on every backend (S3 stores them so); values keep any Unicode.
    expect(got?.metadata).toEqual({ kind: 'cutout', sourceid: 'abc-1', label: 'Bällchen 🐶' });
    expect(Math.abs((got?.updated.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
  });

  it('round-trips an empty and a one-byte object', async () => {
    await store.put('small/empty', Buffer.alloc(0), { contentType: 'application/octet-stream' });
    await store.put('small/one', Buffer.from([0x2a]), { contentType: 'text/plain' });
    expect((await store.get('small/empty'))?.data.length).toBe(0);
    expect(await store.get('small/one')).toMatchObject({ data: Buffer.from([0x2a]), size: 1, contentType: 'text/plain', metadata: {} });
  });

  it('heads without the bytes, and a missing key is null', async () => {
    await store.put('head/a.webp', randomBytes(1000), { contentType: 'image/webp', metadata: { effect: 'sketch' } });
    const info = await store.head('head/a.webp');
    expect(info).toMatchObject({ key: 'head/a.webp', size: 1000, contentType: 'image/webp', metadata: { effect: 'sketch' } });
    expect(info).not.toHaveProperty('data');
    expect(await store.head('head/missing.webp')).toBeNull();
    expect(await store.get('head/missing.webp')).toBeNull();
  });

  it('an overwrite replaces bytes, content type and metadata', async () => {
    await store.put('over/x', Buffer.from('first'), { contentType: 'text/plain', metadata: { version: '1', old: 'yes' } });
    await store.put('over/x', Buffer.from('second!'), { contentType: 'application/json', metadata: { version: '2' } });
    expect(await store.get('over/x')).toMatchObject({ data: Buffer.from('second!'), size: 7, contentType: 'application/json', metadata: { version: '2' } });
    expect((await store.head('over/x'))?.metadata).toEqual({ version: '2' });
  });

  it('lists only the prefix, in key order, with sizes, across pages', async () => {
    const keys = ['lst/b/3', 'lst/a', 'lst/b/1', 'lst/ba', 'lst/b/2', 'lstx/other', 'other/lst/a'];
    for (const [i, key] of keys.entries()) await store.put(key, Buffer.alloc(i + 1, i), { contentType: 'text/plain', metadata: { i: String(i) } });
    const listed = await store.list('lst/');
    expect(listed.map((o) => o.key)).toEqual(['lst/a', 'lst/b/1', 'lst/b/2', 'lst/b/3', 'lst/ba']);
    expect(listed.map((o) => o.size)).toEqual([2, 3, 5, 1, 4]);
    expect(listed[0]).toMatchObject({ contentType: 'text/plain', metadata: { i: '1' } });
    expect(listed.every((o) => o.updated instanceof Date)).toBe(true);
    // A prefix need not end at a '/'.
    expect((await store.list('lst/b')).map((o) => o.key)).toEqual(['lst/b/1', 'lst/b/2', 'lst/b/3', 'lst/ba']);
    expect(await store.list('nothing-here/')).toEqual([]);
  });

  it('deletes, and deleting a missing key is fine', async () => {
    await store.put('del/a', Buffer.from('a'), { contentType: 'text/plain' });
    await store.put('del/b', Buffer.from('b'), { contentType: 'text/plain' });
    await store.delete('del/a');
    await expect(store.delete('del/a')).resolves.toBeUndefined();
    await expect(store.delete('del/never/existed')).resolves.toBeUndefined();
    expect(await store.get('del/a')).toBeNull();
    expect((await store.list('del/')).map((o) => o.key)).toEqual(['del/b']);
  });

  it('copies bytes, content type and metadata; a missing source is PETCUT_E_NOT_FOUND', async () => {
    const data = randomBytes(200_000);
    await store.put('copy/src.png', data, { contentType: 'image/png', metadata: { tier: 'temporary' } });
    await store.copy('copy/src.png', 'copy/dst/kept.png');
    const copied = await store.get('copy/dst/kept.png');
    expect(copied && sha(copied.data)).toBe(sha(data));
    expect(copied).toMatchObject({ contentType: 'image/png', metadata: { tier: 'temporary' } });
    expect((await store.list('copy/')).map((o) => o.key)).toEqual(['copy/dst/kept.png', 'copy/src.png']);
    expect(await codeOf(store.copy('copy/missing.png', 'copy/never.png'))).toBe('PETCUT_E_NOT_FOUND');
    expect(await store.head('copy/never.png')).toBeNull();
  });

  it('lands 20 concurrent puts of different keys', async () => {
    const blobs = Array.from({ length: 20 }, (_, i) => randomBytes(10_000 + i));
    await Promise.all(blobs.map((data, i) => store.put(`conc/${String(i).padStart(2, '0')}`, data, { contentType: 'image/png' })));
    const listed = await store.list('conc/');
    expect(listed.map((o) => o.size)).toEqual(blobs.map((b) => b.length));
    const read = await Promise.all(blobs.map((_, i) => store.get(`conc/${String(i).padStart(2, '0')}`)));
    expect(read.map((o) => o && sha(o.data))).toEqual(blobs.map(sha));
  });

  it('ensureLifecycle creates, leaves alone, updates, and keeps the operator’s rule', async () => {
    const rules: ExpiryRule[] = [{ prefix: 'sessions/temporary/', days: 1 }, { prefix: 'sessions/kept/', days: 30 }];
    if (!h.lifecycle) {
      expect(await store.ensureLifecycle(rules)).toBe('not-supported');
      return;
    }
    await h.lifecycle.seedOperatorRule();
    expect(await store.ensureLifecycle(rules)).toBe('created');
    expect(await store.ensureLifecycle([...rules].reverse())).toBe('unchanged');
    expect(await store.ensureLifecycle([{ prefix: 'sessions/temporary/', days: 2 }, rules[1] as ExpiryRule])).toBe('updated');
    const read = await h.lifecycle.rules();
    expect(read).toHaveLength(3);
    expect(read.filter((r) => r.includes('logs/:90'))).toHaveLength(1);
    expect(read.filter((r) => r.includes('sessions/temporary/:2'))).toHaveLength(1);
    expect(read.filter((r) => r.includes('sessions/kept/:30'))).toHaveLength(1);
  });

  it('signs a download URL where the backend has them', async () => {
    const data = randomBytes(50_000);
    await store.put('signed/a.png', data, { contentType: 'image/png' });
    if (!h.checkSignedUrl) {
      expect(store.signedUrl).toBeUndefined();
      return;
    }
    expect(store.signedUrl).toBeTypeOf('function');
    await h.checkSignedUrl(await store.signedUrl!('signed/a.png', 600), 'signed/a.png', data);
  });
});

describe('fs store', () => {
  let base: string;
  let root: string;
  let store: FsStore;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'petcut-fs-only-'));
    root = join(base, 'data');
    store = createFsStore({ root });
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  it('rejects keys that could leave the root, and writes nothing for them', async () => {
    for (const key of ['../x', 'a/../../x', '..', '/etc/passwd', 'a\\b', 'a//b', '', 'a/', '.hidden', 'a/.x.meta.json', 'a/.tmp-1']) {
      expect(await codeOf(store.put(key, Buffer.from('x'), { contentType: 'text/plain' })), key).toBe('PETCUT_E_BAD_REQUEST');
      expect(await codeOf(store.get(key)), key).toBe('PETCUT_E_BAD_REQUEST');
    }
    expect(await codeOf(store.head('../data/x'))).toBe('PETCUT_E_BAD_REQUEST');
    expect(await codeOf(store.delete('../x'))).toBe('PETCUT_E_BAD_REQUEST');
    expect(await codeOf(store.copy('a', '../x'))).toBe('PETCUT_E_BAD_REQUEST');
    expect(await codeOf(store.list('../'))).toBe('PETCUT_E_BAD_REQUEST');
    expect(await readdir(base)).toEqual([]);
  });

  it('leaves no temp file behind and never lists the sidecar', async () => {
    await store.put('dir/a.png', randomBytes(1000), { contentType: 'image/png' });
    expect((await readdir(join(root, 'dir'))).sort()).toEqual(['.a.png.meta.json', 'a.png']);
    expect((await store.list('dir/')).map((o) => o.key)).toEqual(['dir/a.png']);
  });

  it('a reader racing 10 overwrites of a 5 MB object always reads one whole version', async () => {
    const versions = Array.from({ length: 11 }, () => randomBytes(5 * 1024 * 1024));
    const written = new Set(versions.map(sha));
    await store.put('race/x.png', versions[0] as Buffer, { contentType: 'image/png' });
    let writing = true;
    const seen: string[] = [];
    const reader = (async () => {
      while (writing) {
        const got = await store.get('race/x.png');
        seen.push(got ? sha(got.data) : 'missing');
      }
    })();
    for (const data of versions.slice(1)) await store.put('race/x.png', data, { contentType: 'image/png' });
    writing = false;
    await reader;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((hash) => !written.has(hash))).toEqual([]);
  });

  it('sweeps crash leftovers older than an hour while listing, and nothing else', async () => {
    await store.put('crash/a', Buffer.from('a'), { contentType: 'text/plain' });
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    const dir = join(root, 'crash');
    for (const leftover of ['.tmp-deadbeef', '.gone.png.meta.json']) {
      await writeFile(join(dir, leftover), 'partial');
      await utimes(join(dir, leftover), old, old);
    }
    await writeFile(join(dir, '.tmp-inflight'), 'a writer is still here');
    expect((await store.list('crash/')).map((o) => o.key)).toEqual(['crash/a']);
    expect((await readdir(dir)).sort()).toEqual(['.a.meta.json', '.tmp-inflight', 'a']);
    expect(await store.removeStaleFiles(0)).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(['.a.meta.json', 'a']);
  });

  it('serves a file placed by hand, without a sidecar, as octet-stream', async () => {
    await mkdir(join(root, 'manual'), { recursive: true });
    await writeFile(join(root, 'manual', 'b.bin'), 'bytes');
    expect(await store.get('manual/b.bin')).toMatchObject({ data: Buffer.from('bytes'), contentType: 'application/octet-stream', metadata: {} });
  });

  it('delete prunes emptied directories but keeps the root', async () => {
    await store.put('prune/deep/er/x', Buffer.from('x'), { contentType: 'text/plain' });
    await store.delete('prune/deep/er/x');
    expect(await readdir(root)).not.toContain('prune');
    await store.ping();
    expect(await readdir(base)).toEqual(['data']);
  });

  it('an unusable root is PETCUT_E_STORAGE_UNAVAILABLE', async () => {
    await writeFile(join(base, 'a-file'), '');
    const broken = createFsStore({ root: join(base, 'a-file', 'data') });
    expect(await codeOf(broken.ping())).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    expect(await codeOf(broken.put('k', Buffer.from('x'), { contentType: 'text/plain' }))).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    await rm(join(base, 'a-file'));
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A test against a hung backend fails at this deadline if the store waits
 * for it instead of the 500 ms it is given (the adapters' default is 10 to
 * 30 s). When the error comes is not asserted: timing belongs in the bench.
 */
const HUNG_TEST_TIMEOUT_MS = 8000;

/**
 * Runs `action` against a backend that accepts and never answers: its error,
 * and the requests the backend received (it was asked, so the failure is
 * not a refused connection).
 */
async function againstHungBackend(action: (endpoint: string) => Promise<unknown>): Promise<{ error: unknown; requests: string[] }> {
  const hung = await startGcsServer();
  hung.hang = true;
  try {
    const error: unknown = await action(hung.endpoint).then(() => new Error('expected a rejection'), (e: unknown) => e);
    return { error, requests: [...hung.requests] };
  } finally {
    await hung.close();
  }
}

describe('s3 store', () => {
  const s3Options = (endpoint: string, bucket = 'petcut-test') => ({
    bucket, endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });

  it('against plain s3rver (no lifecycle API), ensureLifecycle is not-supported; listings page', async () => {
    // No lifecycle fake here: s3rver's own 501. The pages (and continuation tokens) are our shim's, not s3rver's.
    const server = await startS3Server();
    try {
      const store = createS3Store({ ...s3Options(server.endpoint), listPageSize: 2 });
      expect(await store.ensureLifecycle([{ prefix: 'sessions/', days: 1 }])).toBe('not-supported');
      expect(server.requests.filter((r) => r.includes('?lifecycle'))).toHaveLength(1); // read, never written
      for (const key of ['p/1', 'p/2', 'p/3', 'p/4', 'p/5']) await store.put(key, Buffer.from(key), { contentType: 'text/plain' });
      expect((await store.list('p/')).map((o) => o.key)).toEqual(['p/1', 'p/2', 'p/3', 'p/4', 'p/5']);
      expect(server.requests.filter((r) => r.includes('list-type=2'))).toHaveLength(3);
      expect(server.requests.filter((r) => r.includes('continuation-token='))).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('a closed port is PETCUT_E_STORAGE_UNAVAILABLE', async () => {
    const store = createS3Store({ ...s3Options(`http://127.0.0.1:${await closedPort()}`), maxRetries: 1 });
    expect(await codeOf(store.ping())).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    expect(await codeOf(store.put('k', Buffer.from('x'), { contentType: 'text/plain' }))).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    expect(await codeOf(store.get('k'))).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    expect(await codeOf(store.list(''))).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
  });

  it('a hanging backend fails as PETCUT_E_STORAGE_UNAVAILABLE after the request timeout', async () => {
    const { error, requests } = await againstHungBackend((endpoint) =>
      createS3Store({ ...s3Options(endpoint), requestTimeoutMs: 500, maxRetries: 0 }).get('k'));
    expect(isPetcutError(error) && error.code).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    // The configured timeout is what ended it, on the one attempt asked for (the SDK's error is the cause, kept for the log).
    expect((error as Error).cause).toMatchObject({ name: 'TimeoutError', message: expect.stringContaining('configured 500 ms requestTimeout'), $metadata: { attempts: 1 } });
    expect(requests).toEqual(['GET /petcut-test/k?x-id=GetObject']);
  }, HUNG_TEST_TIMEOUT_MS);

  it('a refused request (bad credentials) is not reported as an outage', async () => {
    const server = await startS3Server();
    try {
      const store = createS3Store({ ...s3Options(server.endpoint), credentials: { accessKeyId: 'NOBODY', secretAccessKey: 'wrong' } });
      const error: unknown = await store.put('k', Buffer.from('x'), { contentType: 'text/plain' }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } });
      expect(isPetcutError(error)).toBe(false);
    } finally {
      await server.close();
    }
  });
});

describe('mergeS3Lifecycle', () => {
  const operator: S3Rule = { ID: 'operator-logs', Filter: { Prefix: 'logs/' }, Status: 'Enabled', Expiration: { Days: 90 } };
  const ours = (prefix: string, days: number): S3Rule => ({ ID: `petcut-${prefix}`, Filter: { Prefix: prefix }, Status: 'Enabled', Expiration: { Days: days } });

  it('appends ours after the operator’s rules, by prefix', () => {
    const merged = mergeS3Lifecycle([operator], [{ prefix: 'b/', days: 2 }, { prefix: 'a/', days: 1 }]);
    expect(merged).toEqual({ outcome: 'created', rules: [operator, ours('a/', 1), ours('b/', 2)] });
  });

  it('is unchanged whatever the order, and updated when days change or a prefix is dropped', () => {
    const current = [ours('b/', 2), operator, ours('a/', 1)];
    expect(mergeS3Lifecycle(current, [{ prefix: 'a/', days: 1 }, { prefix: 'b/', days: 2 }]).outcome).toBe('unchanged');
    expect(mergeS3Lifecycle(current, [{ prefix: 'a/', days: 3 }, { prefix: 'b/', days: 2 }])).toEqual({ outcome: 'updated', rules: [operator, ours('a/', 3), ours('b/', 2)] });
    expect(mergeS3Lifecycle(current, [{ prefix: 'a/', days: 1 }])).toEqual({ outcome: 'updated', rules: [operator, ours('a/', 1)] });
    expect(mergeS3Lifecycle(current, [])).toEqual({ outcome: 'updated', rules: [operator] });
    expect(mergeS3Lifecycle([operator], []).outcome).toBe('unchanged');
  });
});

describe('mergeGcsLifecycle', () => {
  const rule = (prefix: string, age: number, extra: object = {}): GcsRule => ({ action: { type: 'Delete' }, condition: { age, matchesPrefix: [prefix], ...extra } });
  const archive: GcsRule = { action: { type: 'SetStorageClass', storageClass: 'ARCHIVE' }, condition: { age: 1, matchesPrefix: ['a/'] } };

  it('creates, leaves alone and updates; keeps the operator’s rules', () => {
    expect(mergeGcsLifecycle([archive], [{ prefix: 'b/', days: 2 }, { prefix: 'a/', days: 1 }])).toEqual({ outcome: 'created', rules: [archive, rule('a/', 1), rule('b/', 2)] });
    const current = [rule('b/', 2), archive, rule('a/', 1)];
    expect(mergeGcsLifecycle(current, [{ prefix: 'a/', days: 1 }, { prefix: 'b/', days: 2 }]).outcome).toBe('unchanged');
    expect(mergeGcsLifecycle(current, [{ prefix: 'a/', days: 5 }, { prefix: 'b/', days: 2 }])).toEqual({ outcome: 'updated', rules: [archive, rule('a/', 5), rule('b/', 2)] });
  });

  it('treats a rule as ours only on an exact prefix with a plain age condition', () => {
    const subPrefix = rule('a/debug/', 30);
    const liveOnly = rule('a/', 1, { isLive: true });
    const merged = mergeGcsLifecycle([subPrefix, liveOnly], [{ prefix: 'a/', days: 1 }]);
    expect(merged).toEqual({ outcome: 'created', rules: [subPrefix, liveOnly, rule('a/', 1)] });
  });
});

describe('gcs store', () => {
  let server: GcsTestServer;
  beforeAll(async () => {
    server = await startGcsServer();
  });
  afterAll(() => server.close());
  const gcs = (extra: Partial<GcsStoreOptions> = {}) => createGcsStore({ bucket: server.bucket, apiEndpoint: server.endpoint, ...extra });

  it('puts in one multipart request and reads bytes of the generation it described', async () => {
    const store = gcs();
    server.requests.length = 0;
    await store.put('gen/a.png', randomBytes(100_000), { contentType: 'image/png' });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatch(/^POST \/upload\/storage\/v1\/b\/petcut-test\/o\?.*uploadType=multipart/);
    server.requests.length = 0;
    await store.get('gen/a.png');
    const generation = server.objects.get('gen/a.png')?.generation;
    expect(server.requests.some((r) => r.includes('alt=media') && r.includes(`generation=${generation}`))).toBe(true);
  });

  it('injected 503s are PETCUT_E_STORAGE_UNAVAILABLE; a 403 is not', async () => {
    const store = gcs({ maxRetries: 0 });
    await store.put('fail/a', Buffer.from('a'), { contentType: 'text/plain' });
    const calls: [string, () => Promise<unknown>][] = [
      ['put', () => store.put('fail/b', Buffer.from('b'), { contentType: 'text/plain' })], ['get', () => store.get('fail/a')],
      ['head', () => store.head('fail/a')], ['list', () => store.list('fail/')], ['delete', () => store.delete('fail/a')],
      ['copy', () => store.copy('fail/a', 'fail/c')], ['ping', () => store.ping()], ['lifecycle', () => store.ensureLifecycle([])],
    ];
    for (const [name, call] of calls) {
      server.failNext(503);
      expect(await codeOf(call()), name).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    }
    server.failNext(403);
    const error: unknown = await store.get('fail/a').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 403 });
    expect(isPetcutError(error)).toBe(false);
  });

  it('retries failed writes and reads by default, also after a put', async () => {
    const store = gcs();
    server.failNext(503);
    await store.put('retry/a', Buffer.from('a'), { contentType: 'text/plain' });
    server.requests.length = 0;
    server.failNext(503);
    expect((await store.get('retry/a'))?.data).toEqual(Buffer.from('a'));
    // 7.x's save() turns retries off on its Storage under the default idempotency strategy; this read proves ours are still on.
    expect(server.requests.filter((r) => r.startsWith('GET /storage/v1/b/petcut-test/o/retry%2Fa?'))).toHaveLength(3); // failed, retried, media
  });

  it('a hanging backend fails as PETCUT_E_STORAGE_UNAVAILABLE after the timeout', async () => {
    const { error, requests } = await againstHungBackend((endpoint) =>
      createGcsStore({ bucket: 'petcut-test', apiEndpoint: endpoint, timeoutMs: 500, maxRetries: 0 }).get('k'));
    expect(isPetcutError(error) && error.code).toBe('PETCUT_E_STORAGE_UNAVAILABLE');
    // The client's own timeout ended it (node-fetch's request-timeout), on the one request asked for: no retry.
    expect((error as Error).cause).toMatchObject({ name: 'FetchError', type: 'request-timeout' });
    expect(requests).toEqual(['GET /storage/v1/b/petcut-test/o/k?']);
  }, HUNG_TEST_TIMEOUT_MS);

  it('an unchanged lifecycle is not written', async () => {
    const store = gcs();
    expect(await store.ensureLifecycle([{ prefix: 'x/', days: 1 }])).toBe('created');
    server.requests.length = 0;
    expect(await store.ensureLifecycle([{ prefix: 'x/', days: 1 }])).toBe('unchanged');
    expect(server.requests).toEqual(['GET /storage/v1/b/petcut-test?']);
  });
});

describe('createStore', () => {
  it('builds the adapter the config names', async () => {
    const root = await mkdtemp(join(tmpdir(), 'petcut-factory-'));
    try {
      const store = createStore({ kind: 'fs', root });
      await store.put('a', Buffer.from('a'), { contentType: 'text/plain' });
      expect((await store.get('a'))?.data).toEqual(Buffer.from('a'));
      expect(createStore({ kind: 's3', bucket: 'b', endpoint: 'http://127.0.0.1:1', signedUrls: true }).signedUrl).toBeTypeOf('function');
      expect(createStore({ kind: 'gcs', bucket: 'b', endpoint: 'http://127.0.0.1:1' }).name).toBe('gcs');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('refuses an incomplete config as PETCUT_E_INVALID_CONFIG', () => {
    expect(() => createStore({ kind: 'fs' })).toThrow(expect.objectContaining({ code: 'PETCUT_E_INVALID_CONFIG' }));
    expect(() => createStore({ kind: 'gcs' })).toThrow(/bucket/);
    expect(() => createStore({ kind: 's3', bucket: 'b', accessKeyId: 'only-half' })).toThrow(/secretAccessKey/);
  });
});
