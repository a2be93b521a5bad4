/**
 * An automatic mitigation: one action an alert switched on, kept until the
 * alert resolves or `expiresAt` passes (whichever comes first). Plain data:
 * the same record lives in memory or, with REDIS_URL, in Redis, where every
 * instance reads it.
 */
export type MitigationAction =
  /** Service-level minimum instances raised to `value` (Cloud Run Admin API). */
  | 'min_instances'
  /** Service-level maximum instances lowered to `value` (Cloud Run Admin API). */
  | 'max_instances'
  /** Uploads service-wide limited to `value` per minute (petcut's rate limiter, every instance). */
  | 'throttle'
  /** Images admitted at once per instance limited to `value` (petcut's admission, every instance). */
  | 'concurrency';

export const ACTIONS: readonly MitigationAction[] = ['min_instances', 'max_instances', 'throttle', 'concurrency'];

/** Actions that change the Cloud Run service; the others change petcut itself. */
export const CLOUD_ACTIONS: ReadonlySet<MitigationAction> = new Set(['min_instances', 'max_instances']);

export interface Mitigation {
  readonly action: MitigationAction;
  /** The alert's name (labels.alertname) that switched it on. */
  readonly alert: string;
  /** Alertmanager's fingerprint of the alert: its resolution names the same one. */
  readonly fingerprint: string;
  readonly value: number;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly expiresAt: string;
}

/** Service-level instance bounds (the same shape as the schedule's). */
export interface Scaling {
  readonly min: number;
  readonly max: number;
}

/** What every instance applies to itself while mitigations are active (absent: no limit). */
export interface LocalLimits {
  readonly uploadsPerMin?: number;
  readonly concurrency?: number;
}

export const keyOf = (m: Pick<Mitigation, 'action' | 'fingerprint'>): string => `${m.action}:${m.fingerprint}`;
