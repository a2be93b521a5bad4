import {
  CopyObjectCommand, DeleteBucketLifecycleCommand, DeleteObjectCommand, GetBucketLifecycleConfigurationCommand,
  GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutBucketLifecycleConfigurationCommand,
  PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import type { LifecycleRule } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { PetcutError } from '../errors.js';
import type { ExpiryRule, LifecycleOutcome, ObjectInfo, ObjectStore, PutOptions } from './store.js';

export interface S3StoreOptions {
  readonly bucket: string;
  readonly region?: string;
  /** An S3-compatible service (MinIO, R2, s3rver); AWS itself needs none. */
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  /** Omit to use the SDK's chain (env, profile, instance role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Per attempt: time to connect, to the response headers, and of silence while the body streams. */
  readonly requestTimeoutMs?: number;
  readonly maxRetries?: number;
  readonly signedUrls?: boolean;
  /** Keys per ListObjectsV2 page (S3's maximum is 1000); tests set it small to exercise paging. */
  readonly listPageSize?: number;
}

/** Lifecycle rules petcut writes carry this ID prefix; any other rule is the operator's and is kept. */
export const PETCUT_RULE_PREFIX = 'petcut-';
// HEAD requests in flight while listing: enough to hide latency, few enough not to trip request-rate limits.
const HEAD_CONCURRENCY = 8;

type Status = { $metadata?: { httpStatusCode?: number }; name?: string };

/**
 * The bucket's rules with ours replaced by `desired`. Ours are recognised by
 * ID, so a prefix dropped from the config loses its rule on the next call.
 */
export function mergeS3Lifecycle(current: readonly LifecycleRule[], desired: readonly ExpiryRule[]): {
  rules: LifecycleRule[];
  outcome: Exclude<LifecycleOutcome, 'not-supported'>;
} {
  const isOurs = (rule: LifecycleRule): boolean => rule.ID?.startsWith(PETCUT_RULE_PREFIX) ?? false;
  const wanted: LifecycleRule[] = [...desired]
    .sort((a, b) => (a.prefix < b.prefix ? -1 : 1))
    .map(({ prefix, days }) => ({ ID: `${PETCUT_RULE_PREFIX}${prefix}`, Filter: { Prefix: prefix }, Status: 'Enabled', Expiration: { Days: days } }));
  const ours = current.filter(isOurs);
  const shape = (rules: readonly LifecycleRule[]): string => JSON.stringify(rules
    .map((r) => [r.ID, r.Filter?.Prefix ?? r.Prefix, r.Status, r.Expiration?.Days])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
  const outcome = shape(ours) === shape(wanted) ? 'unchanged' : ours.length === 0 ? 'created' : 'updated';
  return { rules: [...current.filter((rule) => !isOurs(rule)), ...wanted], outcome };
}

/** Outages and server faults are retryable for the caller; any other error (access denied, bad request) is a bug or misconfiguration. */
function failure(error: unknown, what: string): never {
  const status = (error as Status).$metadata?.httpStatusCode;
  // No HTTP status means no answer came back: connection refused, reset, timeout.
  if (status === undefined || status >= 500 || status === 429) {
    // The library's text (hosts, paths) stays in the cause: the log has it, the client does not.
    throw new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE', `Storage is not reachable (S3 ${what}): retry later; nothing was stored.`, { cause: error });
  }
  throw error;
}

const isStatus = (error: unknown, status: number): boolean => (error as Status).$metadata?.httpStatusCode === status;

// S3 metadata travels in HTTP headers, which carry printable ASCII only; S3
// itself takes and returns anything else RFC 2047-encoded, and so do we.
const HEADER_SAFE = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/;
const ENCODED = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$/i;

function encodeMetadata(metadata: Readonly<Record<string, string>> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) =>
    [k.toLowerCase(), HEADER_SAFE.test(v) && !ENCODED.test(v) ? v : `=?UTF-8?B?${Buffer.from(v).toString('base64')}?=`]));
}

function decodeMetadata(metadata: Readonly<Record<string, string>> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => {
    const encoded = ENCODED.exec(v)?.[1];
    return [k, encoded === undefined ? v : Buffer.from(encoded, 'base64').toString('utf8')];
  }));
}

async function mapConcurrently<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function createS3Store(options: S3StoreOptions): ObjectStore {
  const Bucket = options.bucket;
  const timeout = options.requestTimeoutMs ?? 30_000;
  const client = new S3Client({
    // S3-compatible services ignore the region but the SDK insists on one.
    region: options.region ?? (options.endpoint ? 'us-east-1' : undefined),
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials: options.credentials,
    maxAttempts: (options.maxRetries ?? 2) + 1,
    // By default the SDK sends a streamed body as aws-chunked with a CRC32 trailer,
    // which S3-compatible servers that do not know it (s3rver, older MinIO) store
    // verbatim, framing included; Buffers get a plain header. Checksums only where
    // an operation requires them keeps every body byte-for-byte.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without throwOnRequestTimeout the handler only logs a warning when requestTimeout passes.
    requestHandler: { connectionTimeout: timeout, requestTimeout: timeout, socketTimeout: timeout, throwOnRequestTimeout: true },
  });

  async function head(key: string): Promise<ObjectInfo | null> {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, contentType: out.ContentType ?? 'application/octet-stream', updated: out.LastModified ?? new Date(), metadata: decodeMetadata(out.Metadata) };
    } catch (error) {
      return isStatus(error, 404) ? null : failure(error, `HEAD ${key}`);
    }
  }

  async function readLifecycle(): Promise<LifecycleRule[] | 'not-supported'> {
    try {
      return (await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))).Rules ?? [];
    } catch (error) {
      if ((error as Status).name === 'NoSuchLifecycleConfiguration') return [];
      if ((error as Status).name === 'NotImplemented') return 'not-supported'; // s3rver, some S3-compatible servers
      return failure(error, 'reading the lifecycle');
    }
  }

  const store: ObjectStore = {
    name: 's3',
    head,

    async put(key: string, data: Buffer, put: PutOptions): Promise<void> {
      // One PutObject is atomic on S3: the object appears whole or not at all.
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: data, ContentLength: data.length, ContentType: put.contentType, Metadata: encodeMetadata(put.metadata) }))
        .catch((error: unknown) => failure(error, `PUT ${key}`));
    },

    async get(key: string) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        const bytes = await out.Body?.transformToByteArray() ?? new Uint8Array();
        const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        return { key, data, size: data.length, contentType: out.ContentType ?? 'application/octet-stream', updated: out.LastModified ?? new Date(), metadata: decodeMetadata(out.Metadata) };
      } catch (error) {
        return isStatus(error, 404) ? null : failure(error, `GET ${key}`);
      }
    },

    async list(prefix: string): Promise<ObjectInfo[]> {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: options.listPageSize }))
          .catch((error: unknown) => failure(error, `LIST ${prefix}`));
        keys.push(...(page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key])));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      // ListObjectsV2 returns neither content type nor metadata, so each object
      // costs a HEAD; petcut lists one session or one tier sweep at a time.
      const infos = await mapConcurrently(keys, HEAD_CONCURRENCY, head);
      return infos.filter((info): info is ObjectInfo => info !== null).sort((a, b) => (a.key < b.key ? -1 : 1));
    },

    async delete(key: string): Promise<void> {
      await client.send(new DeleteObjectCommand({ Bucket, Key: key })).catch((error: unknown) => failure(error, `DELETE ${key}`));
    },

    async copy(from: string, to: string): Promise<void> {
      const source = `${Bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
      try {
        await client.send(new CopyObjectCommand({ Bucket, Key: to, CopySource: source, MetadataDirective: 'COPY' }));
      } catch (error) {
        if (isStatus(error, 404)) throw new PetcutError('PETCUT_E_NOT_FOUND', `No object at ${from}`, { cause: error });
        failure(error, `COPY ${from}`);
      }
    },

    async ensureLifecycle(rules: readonly ExpiryRule[]): Promise<LifecycleOutcome> {
      const current = await readLifecycle();
      if (current === 'not-supported') return current;
      const merged = mergeS3Lifecycle(current, rules);
      if (merged.outcome === 'unchanged') return merged.outcome;
      try {
        // S3 refuses an empty rule list: no rules left means no configuration.
        await client.send(merged.rules.length === 0
          ? new DeleteBucketLifecycleCommand({ Bucket })
          : new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules: merged.rules } }));
      } catch (error) {
        failure(error, 'writing the lifecycle');
      }
      return merged.outcome;
    },

    async ping(): Promise<void> {
      await client.send(new HeadBucketCommand({ Bucket })).catch((error: unknown) => failure(error, 'HEAD bucket'));
    },
  };
  if (options.signedUrls) {
    store.signedUrl = (key, ttlSeconds) => getSignedUrl(client, new GetObjectCommand({ Bucket, Key: key }), { expiresIn: ttlSeconds });
  }
  return store;
}
