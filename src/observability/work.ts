import type { ProgressEvent } from '../engine/index.js';

/**
 * How the service's processing is watched, declared where the watchers live
 * (metrics, traces; the cost meter beside them), so they depend on this
 * small contract and not on the service that calls them. The service's own
 * request and outcome types fit these shapes.
 */

/** The shop, shopper session and HTTP request a piece of work is done for. */
export interface WorkOrigin {
  readonly shop?: string;
  readonly session?: string;
  readonly requestId?: string;
  /** The HTTP route pattern that asked (e.g. /v1/cutouts): the cost report's per-route view. */
  readonly route?: string;
  /** The asking request's trace context (OpenTelemetry's, when tracing is on); opaque here. */
  readonly trace?: unknown;
}

/** A piece of work's stages as clients and watchers see them: the engine's, plus the service's own. */
export type StageEvent =
  | { stage: 'queued'; position: number }
  | { stage: 'cache' }
  | ProgressEvent
  | { stage: 'store' };

/** What a watcher sees of the work as it starts. */
export interface WorkStart {
  readonly input: { readonly length: number };
  readonly outputs: { readonly length: number };
  readonly origin?: WorkOrigin;
}

/** ...and as it ends well. `times` are the stages' milliseconds. */
export interface WorkOutcome {
  /** hit: every output from the cache; cutout: rendered from the cached cut-out; miss: the model ran. */
  readonly cache: 'hit' | 'cutout' | 'miss';
  readonly times: Readonly<Record<string, number>>;
  /** What came out (the cost ledger's per-style, per-format and per-size views). */
  readonly outputs?: ReadonlyArray<{ readonly effect: string; readonly spec: { readonly format?: string }; readonly width: number; readonly height: number }>;
}

/** Told what each request cost (the metrics); never on the request's path for long. */
export interface ProcessObserver {
  done?(outcome: WorkOutcome, seconds: number): void;
  failed?(error: unknown): void;
  /** Seconds from admission until a pipeline took the image. */
  waited?(seconds: number): void;
  /** Called as the work starts; the watch sees its stages and its end (cost meter, traces). */
  begin?(work: WorkStart): WorkWatch | undefined;
}

export interface WorkWatch {
  stage?(event: StageEvent): void;
  end(result: { readonly outcome?: WorkOutcome; readonly error?: unknown }): void;
}
