import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback fake of the slice of the GCS JSON API that @google-cloud/storage
 * 7.x sends for our store: multipart upload, object metadata and media,
 * paged listing, delete, rewrite (copy) and bucket metadata with lifecycle.
 * Objects are swapped in whole, as GCS does, and carry real md5 and crc32c
 * hashes so the library's download validation runs.
 */
export interface GcsObject {
  readonly name: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly generation: number;
  readonly timeCreated: Date;
}

export interface GcsTestServer {
  readonly endpoint: string;
  readonly bucket: string;
  readonly objects: ReadonlyMap<string, GcsObject>;
  /** Bucket metadata as PATCHed; tests read and seed `lifecycle` here. */
  readonly bucketMetadata: Record<string, unknown>;
  /** "METHOD /path" of every request, for asserting what the library sent. */
  readonly requests: string[];
  /** Answer the next `times` requests with this HTTP status. */
  failNext(status: number, times?: number): void;
  /** While true, requests are read and never answered. */
  hang: boolean;
  close(): Promise<void>;
}

/** Small on purpose, so every listing test crosses page boundaries. */
const PAGE_SIZE = 2;
const CRC32C_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32c(data: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

/** The bodies of a multipart/related request, in order (JSON metadata, then media). */
function multipartBodies(body: Buffer, contentType: string): Buffer[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) return [];
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const bodies: Buffer[] = [];
  let start = body.indexOf(delimiter.subarray(2)) + delimiter.length - 2;
  for (let end = body.indexOf(delimiter, start); end !== -1; end = body.indexOf(delimiter, start)) {
    const part = body.subarray(start, end);
    bodies.push(part.subarray(part.indexOf('\r\n\r\n') + 4));
    start = end + delimiter.length;
  }
  return bodies;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startGcsServer(bucket = 'petcut-test'): Promise<GcsTestServer> {
  const objects = new Map<string, GcsObject>();
  const bucketMetadata: Record<string, unknown> = { kind: 'storage#bucket', id: bucket, name: bucket, location: 'US', storageClass: 'STANDARD', metageneration: '1' };
  let generation = 1;
  let failures: { status: number; times: number } = { status: 0, times: 0 };

  const resource = (o: GcsObject): Record<string, unknown> => ({
    kind: 'storage#object', id: `${bucket}/${o.name}/${o.generation}`, name: o.name, bucket,
    generation: String(o.generation), metageneration: '1', contentType: o.contentType, size: String(o.data.length),
    md5Hash: createHash('md5').update(o.data).digest('base64'), crc32c: crc32c(o.data), storageClass: 'STANDARD',
    timeCreated: o.timeCreated.toISOString(), updated: o.timeCreated.toISOString(), metadata: o.metadata,
  });
  const store = (name: string, data: Buffer, contentType: string, metadata: Record<string, string>): GcsObject => {
    const object = { name, data, contentType, metadata, generation: ++generation, timeCreated: new Date() };
    objects.set(name, object); // one Map.set: readers see the old object or the new one
    return object;
  };
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, code: number, message: string): void =>
    json(res, code, { error: { code, message, errors: [{ domain: 'global', reason: code === 404 ? 'notFound' : 'backendError', message }] } });

  function handleObject(req: IncomingMessage, res: ServerResponse, url: URL, name: string): void {
    const object = objects.get(name);
    const wanted = url.searchParams.get('generation');
    if (!object || (wanted !== null && Number(wanted) !== object.generation)) return error(res, 404, `No such object: ${bucket}/${name}`);
    if (req.method === 'DELETE') {
      objects.delete(name);
      res.writeHead(204).end();
    } else if (url.searchParams.get('alt') === 'media' || url.pathname.startsWith('/download/')) {
      const { md5Hash, crc32c: crc } = resource(object) as { md5Hash: string; crc32c: string };
      res.writeHead(200, {
        'content-type': object.contentType, 'content-length': object.data.length, 'x-goog-generation': String(object.generation),
        'x-goog-hash': `crc32c=${crc},md5=${md5Hash}`, 'x-goog-stored-content-encoding': 'identity',
      }).end(object.data);
    } else json(res, 200, resource(object));
  }

  function handleList(res: ServerResponse, url: URL): void {
    const prefix = url.searchParams.get('prefix') ?? '';
    const after = url.searchParams.get('pageToken') ?? '';
    const size = Math.min(Number(url.searchParams.get('maxResults') ?? PAGE_SIZE), PAGE_SIZE);
    const names = [...objects.keys()].filter((n) => n.startsWith(prefix) && n > after).sort();
    const page = names.slice(0, size);
    const more = names.length > size && page.length > 0;
    json(res, 200, { kind: 'storage#objects', ...(page.length ? { items: page.map((n) => resource(objects.get(n) as GcsObject)) } : {}), ...(more ? { nextPageToken: page.at(-1) } : {}) });
  }

  function upload(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    if (url.searchParams.get('uploadType') !== 'multipart') return error(res, 400, 'The fake takes multipart uploads only');
    const [metaPart, media] = multipartBodies(body, req.headers['content-type'] ?? '');
    const meta = JSON.parse(metaPart?.toString('utf8') ?? '{}') as { name?: string; contentType?: string; metadata?: Record<string, string> };
    const name = url.searchParams.get('name') ?? meta.name ?? '';
    json(res, 200, resource(store(name, Buffer.from(media ?? ''), meta.contentType ?? 'application/octet-stream', meta.metadata ?? {})));
  }

  function patchBucket(body: Buffer): void {
    for (const [key, value] of Object.entries(JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>)) {
      if (value === null) delete bucketMetadata[key];
      else bucketMetadata[key] = value;
    }
    bucketMetadata.metageneration = String(Number(bucketMetadata.metageneration) + 1);
  }

  function copy(res: ServerResponse, verb: string, from: string, toBucket: string, to: string): void {
    const source = objects.get(from);
    if (!source || toBucket !== bucket) return error(res, 404, `No such object: ${bucket}/${from}`);
    const copied = resource(store(to, source.data, source.contentType, source.metadata));
    json(res, 200, verb === 'copyTo' ? copied : { kind: 'storage#rewriteResponse', done: true, objectSize: copied.size, totalBytesRewritten: copied.size, resource: copied });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await readBody(req);
    const path = url.pathname;
    const match = (pattern: RegExp): string[] | undefined => pattern.exec(path)?.slice(1).map(decodeURIComponent);
    const route = (pattern: RegExp): string[] | undefined => {
      const groups = match(pattern);
      return groups?.[0] === bucket ? groups.slice(1) : undefined;
    };
    let groups: string[] | undefined;
    if ((match(/^\/(?:upload\/|download\/)?storage\/v1\/b\/([^/]+)/) ?? [])[0] !== bucket) return error(res, 404, `No such bucket or path: ${path}`);
    if (route(/^\/upload\/storage\/v1\/b\/([^/]+)\/o$/) && req.method === 'POST') return upload(req, res, url, body);
    if (route(/^\/storage\/v1\/b\/([^/]+)$/)) {
      if (req.method === 'PATCH') patchBucket(body);
      return json(res, 200, bucketMetadata);
    }
    if (route(/^\/storage\/v1\/b\/([^/]+)\/o$/)) return handleList(res, url);
    if ((groups = route(/^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)\/(rewriteTo|copyTo)\/b\/([^/]+)\/o\/([^/]+)$/))) {
      const [from, verb, toBucket, to] = groups as [string, string, string, string];
      return copy(res, verb, from, toBucket, to);
    }
    if ((groups = route(/^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/))) return handleObject(req, res, url, groups[0] as string);
    error(res, 404, `Unknown path ${path}`);
  }

  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    if (fake.hang) return void req.resume();
    if (failures.times > 0) {
      failures.times--;
      return void req.resume().on('end', () => error(res, failures.status, 'Injected failure'));
    }
    handle(req, res).catch((e: unknown) => error(res, 500, String(e)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: GcsTestServer = {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bucket, objects, bucketMetadata, requests, hang: false,
    failNext(status, times = 1) {
      failures = { status, times };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
