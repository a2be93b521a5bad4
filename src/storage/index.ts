import { PetcutError } from '../errors.js';
import { createFsStore } from './fsStore.js';
import { createGcsStore } from './gcsStore.js';
import { createS3Store } from './s3Store.js';
import type { ObjectStore, StorageKind } from './store.js';

export { STORAGE_KINDS } from './store.js';
export type { ExpiryRule, LifecycleOutcome, ObjectInfo, ObjectStore, PutOptions, StorageKind, StoredObject } from './store.js';

/**
 * Everything needed to build a store, flat and plain so the config loader can
 * fill it from env. Fields that do not apply to `kind` are ignored.
 */
export interface StorageConfig {
  readonly kind: StorageKind;
  /** fs: the data directory. */
  readonly root?: string;
  /** gcs, s3 */
  readonly bucket?: string;
  /** gcs: apiEndpoint (an emulator); s3: an S3-compatible service (MinIO, R2). */
  readonly endpoint?: string;
  /** gcs */
  readonly projectId?: string;
  /** gcs: a service-account key file; unset means Application Default Credentials. */
  readonly keyFilename?: string;
  /** s3 */
  readonly region?: string;
  /** s3: bucket in the path rather than the host name (MinIO, s3rver). */
  readonly forcePathStyle?: boolean;
  /** s3: unset means the SDK's chain (env, profile, instance role). */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /** gcs, s3: hand out time-limited direct download URLs. */
  readonly signedUrls?: boolean;
  /** gcs, s3: per attempt, so a hung backend fails instead of holding a request. */
  readonly timeoutMs?: number;
  /** gcs, s3: retries of a failed idempotent request. */
  readonly maxRetries?: number;
}

function required(config: StorageConfig, field: 'root' | 'bucket'): string {
  const value = config[field];
  if (!value) throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Storage "${config.kind}" needs "${field}".`);
  return value;
}

export function createStore(config: StorageConfig): ObjectStore {
  switch (config.kind) {
    case 'fs':
      return createFsStore({ root: required(config, 'root') });
    case 'gcs':
      return createGcsStore({
        bucket: required(config, 'bucket'), projectId: config.projectId, apiEndpoint: config.endpoint,
        keyFilename: config.keyFilename, signedUrls: config.signedUrls, timeoutMs: config.timeoutMs, maxRetries: config.maxRetries,
      });
    case 's3': {
      if (Boolean(config.accessKeyId) !== Boolean(config.secretAccessKey)) {
        throw new PetcutError('PETCUT_E_INVALID_CONFIG', 'Storage "s3" needs both accessKeyId and secretAccessKey, or neither.');
      }
      return createS3Store({
        bucket: required(config, 'bucket'), region: config.region, endpoint: config.endpoint, forcePathStyle: config.forcePathStyle,
        credentials: config.accessKeyId && config.secretAccessKey ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } : undefined,
        signedUrls: config.signedUrls, requestTimeoutMs: config.timeoutMs, maxRetries: config.maxRetries,
      });
    }
  }
}
