import { IdempotencyStrategy, Storage } from '@google-cloud/storage';
import type { FileMetadata, LifecycleRule } from '@google-cloud/storage';
import { PetcutError } from '../errors.js';
import type { ExpiryRule, LifecycleOutcome, ObjectInfo, ObjectStore, PutOptions } from './store.js';

export interface GcsStoreOptions {
  readonly bucket: string;
  readonly projectId?: string;
  /**
   * Another endpoint (an emulator, a private endpoint). The library then sends
   * no credentials unless `useAuthWithCustomEndpoint` is set.
   */
  readonly apiEndpoint?: string;
  readonly useAuthWithCustomEndpoint?: boolean;
  /** Omit both to use Application Default Credentials (the service account on Cloud Run). */
  readonly credentials?: { readonly client_email: string; readonly private_key: string };
  readonly keyFilename?: string;
  readonly signedUrls?: boolean;
  /** Per attempt. */
  readonly timeoutMs?: number;
  readonly maxRetries?: number;
}

/**
 * The bucket's lifecycle rules with ours replaced by `desired`. GCS rules have
 * no ID, so ours are recognised by shape: action Delete, a condition of only
 * `age` and a single `matchesPrefix` equal to one of the desired prefixes.
 * Matching the prefix exactly (rather than anything under it) keeps an
 * operator's own rule for a sub-prefix; the cost is that a prefix dropped from
 * the config keeps its old rule until someone deletes it by hand.
 */
export function mergeGcsLifecycle(current: readonly LifecycleRule[], desired: readonly ExpiryRule[]): {
  rules: LifecycleRule[];
  outcome: Exclude<LifecycleOutcome, 'not-supported'>;
} {
  const prefixes = new Set(desired.map((rule) => rule.prefix));
  const isOurs = ({ action, condition }: LifecycleRule): boolean =>
    action.type === 'Delete' &&
    Object.keys(condition).sort().join() === 'age,matchesPrefix' &&
    condition.matchesPrefix?.length === 1 && prefixes.has(condition.matchesPrefix[0] ?? '');
  const wanted: LifecycleRule[] = [...desired]
    .sort((a, b) => (a.prefix < b.prefix ? -1 : 1))
    .map(({ prefix, days }) => ({ action: { type: 'Delete' }, condition: { age: days, matchesPrefix: [prefix] } }));
  const ours = current.filter(isOurs);
  const shape = (rules: readonly LifecycleRule[]): string =>
    JSON.stringify(rules.map((r) => [r.condition.matchesPrefix?.[0], r.condition.age]).sort());
  const outcome = shape(ours) === shape(wanted) ? 'unchanged' : ours.length === 0 ? 'created' : 'updated';
  return { rules: [...current.filter((rule) => !isOurs(rule)), ...wanted], outcome };
}

/** Outages and server faults are retryable for the caller; any other error (forbidden, bad request) is a bug or misconfiguration. */
function failure(error: unknown, what: string): never {
  const code = (error as { code?: unknown }).code;
  // A numeric code is GCS's HTTP status; a string one (ECONNREFUSED, ETIMEDOUT) means no answer came back.
  if (typeof code !== 'number' || code >= 500 || code === 429 || code === 408) {
    // The library's text (hosts, paths, tokens' scopes) stays in the cause: the log has it, the client does not.
    throw new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE', `Storage is not reachable (GCS ${what}): retry later; nothing was stored.`, { cause: error });
  }
  throw error;
}

const isNotFound = (error: unknown): boolean => (error as { code?: unknown }).code === 404;

function toInfo(meta: FileMetadata): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta.metadata ?? {})) if (v !== null && v !== undefined) metadata[k] = String(v);
  return {
    key: meta.name ?? '',
    size: Number(meta.size ?? 0),
    contentType: meta.contentType ?? 'application/octet-stream',
    // timeCreated is when this generation was written, which is also what lifecycle `age` counts from.
    updated: new Date(meta.timeCreated ?? meta.updated ?? Date.now()),
    metadata,
  };
}

export function createGcsStore(options: GcsStoreOptions): ObjectStore {
  const maxRetries = options.maxRetries ?? 2;
  const storage = new Storage({
    projectId: options.projectId,
    apiEndpoint: options.apiEndpoint,
    useAuthWithCustomEndpoint: options.useAuthWithCustomEndpoint,
    credentials: options.credentials,
    keyFilename: options.keyFilename,
    timeout: options.timeoutMs ?? 30_000,
    // RetryAlways: every write here is safe to repeat (a whole-object overwrite, a
    // delete, a copy, the same lifecycle). It also dodges a 7.x bug: under the
    // default strategy save() switches retries off on the shared Storage for good.
    retryOptions: { autoRetry: maxRetries > 0, maxRetries, idempotencyStrategy: IdempotencyStrategy.RetryAlways },
  });
  const bucket = storage.bucket(options.bucket);

  async function head(key: string): Promise<ObjectInfo | null> {
    try {
      return toInfo((await bucket.file(key).getMetadata())[0]);
    } catch (error) {
      return isNotFound(error) ? null : failure(error, `HEAD ${key}`);
    }
  }

  async function readLifecycle(): Promise<LifecycleRule[]> {
    try {
      return (await bucket.getMetadata())[0].lifecycle?.rule ?? [];
    } catch (error) {
      return failure(error, 'reading the lifecycle');
    }
  }

  const store: ObjectStore = {
    name: 'gcs',
    head,

    async put(key: string, data: Buffer, put: PutOptions): Promise<void> {
      const metadata = Object.fromEntries(Object.entries(put.metadata ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      // A single-request (non-resumable) upload is atomic on GCS; crc32c makes the library check what landed.
      await bucket.file(key)
        .save(data, { resumable: false, contentType: put.contentType, metadata: { contentType: put.contentType, metadata }, validation: 'crc32c' })
        .catch((error: unknown) => failure(error, `PUT ${key}`));
    },

    async get(key: string) {
      // Metadata first, then the bytes of exactly that generation: a racing
      // overwrite cannot pair one version's metadata with another's bytes.
      for (let attempt = 0; attempt < 3; attempt++) {
        const info = await bucket.file(key).getMetadata().catch((error: unknown) => (isNotFound(error) ? null : failure(error, `HEAD ${key}`)));
        if (!info) return null;
        try {
          const [data] = await bucket.file(key, { generation: info[0].generation }).download();
          return { ...toInfo(info[0]), data };
        } catch (error) {
          if (!isNotFound(error)) failure(error, `GET ${key}`); // 404: that generation was just replaced; read again
        }
      }
      throw new PetcutError('PETCUT_E_STORAGE_UNAVAILABLE', `GCS GET ${key}: overwritten while being read`);
    },

    async list(prefix: string): Promise<ObjectInfo[]> {
      const [files] = await bucket.getFiles({ prefix, autoPaginate: true }).catch((error: unknown) => failure(error, `LIST ${prefix}`));
      return files.map((file) => toInfo(file.metadata)).sort((a, b) => (a.key < b.key ? -1 : 1));
    },

    async delete(key: string): Promise<void> {
      await bucket.file(key).delete({ ignoreNotFound: true }).catch((error: unknown) => failure(error, `DELETE ${key}`));
    },

    async copy(from: string, to: string): Promise<void> {
      try {
        await bucket.file(from).copy(bucket.file(to));
      } catch (error) {
        if (isNotFound(error)) throw new PetcutError('PETCUT_E_NOT_FOUND', `No object at ${from}`, { cause: error });
        failure(error, `COPY ${from}`);
      }
    },

    async ensureLifecycle(rules: readonly ExpiryRule[]): Promise<LifecycleOutcome> {
      const merged = mergeGcsLifecycle(await readLifecycle(), rules);
      if (merged.outcome !== 'unchanged') {
        await bucket.setMetadata({ lifecycle: { rule: merged.rules } }).catch((error: unknown) => failure(error, 'writing the lifecycle'));
      }
      return merged.outcome;
    },

    async ping(): Promise<void> {
      // Listing one object needs only object permissions, unlike reading the bucket's metadata.
      await bucket.getFiles({ maxResults: 1, autoPaginate: false }).catch((error: unknown) => failure(error, 'LIST bucket'));
    },
  };
  if (options.signedUrls) {
    // V4 signing is local with a private key; on Cloud Run the library asks the IAM API to sign instead.
    store.signedUrl = async (key, ttlSeconds) =>
      (await bucket.file(key).getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + ttlSeconds * 1000 }))[0];
  }
  return store;
}
