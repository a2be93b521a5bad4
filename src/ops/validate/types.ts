import type { Thresholds } from './thresholds.js';
import type { Client } from './client.js';
import type { PhotoMaker } from './photos.js';

/** The checks of the staging checklist, in the order they run (docs/validate.md). */
export const CHECK_IDS = ['cold', 'warm', 'memory', 'storage', 'cors', 'websocket', 'concurrency', 'health'] as const;
export type CheckId = (typeof CHECK_IDS)[number];

export type CheckStatus = 'pass' | 'fail' | 'skipped';

export interface CheckResult {
  readonly status: CheckStatus;
  /** One line: what was measured against what, or why it was skipped. */
  readonly detail: string;
  /** Numbers for the JSON report (milliseconds, counts, bytes). */
  readonly measured?: Record<string, unknown>;
}

export interface ValidateOptions {
  readonly url: string;
  readonly checks: readonly CheckId[];
  /** Warm cut-outs to time. */
  readonly samples: number;
  /** 'full': 4000x3000 phone photos; 'preview': 1024x768 for slow CPU machines (same thresholds). */
  readonly size: 'full' | 'preview';
  /** Parallel requests of the load check, already scaled (--concurrency x --scale). */
  readonly concurrency: number;
  /** High-resolution uploads sent at once by the memory-pressure simulation, already scaled. */
  readonly pressure: number;
  readonly cold?: string;
  readonly coldRuns: number;
  readonly memoryLimitMb?: number;
  readonly shop: string;
  readonly storefrontOrigin?: string;
  readonly wsSeconds: number;
  readonly photos?: string;
  readonly timeoutS: number;
  /** From the environment only (PETCUT_VALIDATE_OPERATOR_KEY, PETCUT_VALIDATE_TOKEN), never argv. */
  readonly operatorKey?: string;
  readonly token?: string;
}

/** What a check gets: the options, the thresholds, an HTTP client and photos that never hit the cache. */
export interface CheckContext {
  readonly options: ValidateOptions;
  readonly thresholds: Thresholds;
  readonly client: Client;
  readonly photos: PhotoMaker;
  readonly progress: (line: string) => void;
  /** /healthz latencies (ms) sampled in the background while the other checks run. */
  readonly healthSamples: readonly HealthSample[];
}

export interface HealthSample { readonly ms: number; readonly status: number }

/** A check as data: its weight in the score and where its threshold comes from. */
export interface Check {
  readonly id: CheckId;
  readonly title: string;
  readonly weight: number;
  /** The threshold in words and its source (plan section, SLO objective). */
  readonly threshold: string;
  readonly run: (ctx: CheckContext) => Promise<CheckResult>;
}
