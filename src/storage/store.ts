/**
 * The one interface every storage backend implements (local disk, GCS, S3).
 * Keys are '/'-separated paths such as `sessions/temporary/<session>/<image>.png`;
 * the rest of petcut never imports a cloud SDK.
 */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly contentType: string;
  /** When the object was written (a tier move writes a new object, so its clock restarts). */
  readonly updated: Date;
  /** Small string pairs stored with the object (kind, effect, source id, ...). */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface StoredObject extends ObjectInfo {
  readonly data: Buffer;
}

export interface PutOptions {
  readonly contentType: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** An age-based expiry rule: objects under `prefix` are deleted `days` after they were written. */
export interface ExpiryRule {
  readonly prefix: string;
  readonly days: number;
}

export type LifecycleOutcome = 'created' | 'updated' | 'unchanged' | 'not-supported';

/** The storage backends, the one list (PETCUT_STORAGE's values, StorageConfig's kinds). */
export const STORAGE_KINDS = ['fs', 'gcs', 's3'] as const;
export type StorageKind = typeof STORAGE_KINDS[number];

export interface ObjectStore {
  readonly name: StorageKind;
  /** Atomic: readers see the whole object or nothing, never a truncated one. Overwrites an existing key. */
  put(key: string, data: Buffer, options: PutOptions): Promise<void>;
  /** null when the key does not exist. */
  get(key: string): Promise<StoredObject | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Server-side copy (keeps content type and metadata); the copy's `updated` is now. */
  copy(from: string, to: string): Promise<void>;
  /** A time-limited URL a browser can GET directly; undefined when the backend has none (local disk). */
  signedUrl?(key: string, ttlSeconds: number): Promise<string>;
  /**
   * Makes the bucket's lifecycle hold these expiry rules, keeping any other
   * rule the operator set; writes only when something differs.
   */
  ensureLifecycle(rules: readonly ExpiryRule[]): Promise<LifecycleOutcome>;
  /** Cheap reachability check for /health; throws when the backend cannot be reached. */
  ping(): Promise<void>;
}
