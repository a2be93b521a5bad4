import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * s3rver, the real thing, in-process: objects (put, get, head, delete, copy,
 * metadata), signatures and listings are s3rver's own. Two parts of what the
 * tests see are NOT s3rver but shims of ours, placed in its middleware chain
 * because it does not do them:
 *
 * - bucket lifecycle configuration (`lifecycleShim`, only with
 *   `{ lifecycle: true }`): s3rver answers 501 NotImplemented. The shim is a
 *   fake: it stores the XML it is sent and hands it back, validating nothing
 *   and expiring nothing. A test on it shows the adapter's read-merge-write
 *   through the real SDK, not that S3 accepts the rules.
 * - ListObjectsV2 paging (`listPagingShim`, always on): s3rver's continuation
 *   tokens fail under Node 17+ (OpenSSL 3 refuses DES), so the shim fetches
 *   the whole listing from s3rver and cuts the pages itself. The page
 *   boundaries, IsTruncated and the tokens the SDK follows are the shim's.
 *
 * Real S3 behaviour of both is unverified here; run the storage contract
 * against a real bucket (or MinIO) to check it.
 */

/** The slice of s3rver (a Koa app) used here; it ships no types. */
interface Context { method: string; url: string; path: string; query: Record<string, string | undefined>; req: IncomingMessage; status: number; body: unknown; type: string }
type Middleware = (ctx: Context, next: () => Promise<void>) => Promise<void>;
interface S3rver { middleware: Middleware[]; run(): Promise<AddressInfo>; httpServer?: Server; close(): Promise<void> }
type S3rverClass = new (options: Record<string, unknown>) => S3rver;

export interface S3TestServer {
  readonly endpoint: string;
  readonly bucket: string;
  /** s3rver's fixed credentials (it checks signatures, so they must match). */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** "METHOD /url" of every request, for asserting what the SDK sent. */
  readonly requests: string[];
  close(): Promise<void>;
}

const S3rverCtor = createRequire(import.meta.url)('s3rver') as S3rverClass;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * SHIM, not s3rver: a fake of the bucket lifecycle API. s3rver answers every
 * ?lifecycle call with 501 NotImplemented. This shim, placed before its routes, keeps one bucket lifecycle document per bucket
 * and hands back the XML it was given (the GET and PUT bodies have the same
 * shape), so the S3 adapter's read-merge-write runs through the real SDK.
 */
function lifecycleShim(): Middleware {
  const documents = new Map<string, string>();
  return async (ctx, next) => {
    const bucket = /^\/([^/]+)\/?$/.exec(ctx.path)?.[1];
    if (bucket === undefined || !('lifecycle' in ctx.query)) return next();
    if (ctx.method === 'PUT') {
      documents.set(bucket, await readBody(ctx.req));
      ctx.status = 200;
      ctx.body = '';
    } else if (ctx.method === 'DELETE') {
      documents.delete(bucket);
      ctx.status = 204;
    } else {
      const document = documents.get(bucket);
      ctx.status = document === undefined ? 404 : 200;
      ctx.type = 'application/xml';
      ctx.body = document ?? '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchLifecycleConfiguration</Code><Message>The lifecycle configuration does not exist</Message></Error>';
    }
  };
}

interface ListResult { ListBucketResult: { Contents: { Key: string }[]; IsTruncated?: boolean; NextContinuationToken?: string; KeyCount?: number; MaxKeys?: string } }

/**
 * SHIM, not s3rver: our own paging of ListObjectsV2. s3rver encrypts
 * ListObjectsV2 continuation tokens with DES, which Node 17+
 * (OpenSSL 3) refuses, so any truncated listing fails with a 500. This shim
 * asks s3rver for the whole listing and pages it itself, with a token that
 * is simply the base64 of the last key returned.
 */
function listPagingShim(): Middleware {
  return async (ctx, next) => {
    const max = Number(ctx.query['max-keys'] ?? 1000);
    if (ctx.method !== 'GET' || ctx.query['list-type'] !== '2' || !/^\/[^/]+\/?$/.test(ctx.path)) return next();
    const token = ctx.query['continuation-token'];
    const query = { ...ctx.query };
    delete query['continuation-token'];
    delete query['max-keys'];
    ctx.query = token ? { ...query, 'start-after': Buffer.from(token, 'base64').toString('utf8') } : query;
    await next();
    const result = (ctx.body as ListResult | undefined)?.ListBucketResult;
    if (!result || result.Contents.length <= max) return;
    result.Contents = result.Contents.slice(0, max);
    Object.assign(result, { IsTruncated: true, KeyCount: max, MaxKeys: String(max), NextContinuationToken: Buffer.from(result.Contents.at(-1)?.Key ?? '').toString('base64') });
  };
}

/**
 * Starts s3rver in-process on a loopback port with one empty bucket in a temp
 * directory, with the list-paging shim, and with the lifecycle fake when
 * `lifecycle` is true (see the top of this file).
 */
export async function startS3Server(options: { lifecycle?: boolean } = {}): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'petcut-s3rver-'));
  const bucket = 'petcut-test';
  const server = new S3rverCtor({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
  const requests: string[] = [];
  server.middleware.unshift(async (ctx, next) => {
    requests.push(`${ctx.method} ${ctx.url}`);
    await next();
  });
  // After s3rver's XML encoder (so bodies are still objects), before its router.
  server.middleware.splice(server.middleware.length - 1, 0, listPagingShim(), ...(options.lifecycle ? [lifecycleShim()] : []));
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requests,
    async close() {
      server.httpServer?.closeAllConnections(); // the SDK keeps connections alive
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
