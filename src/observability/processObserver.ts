import { isPetcutError } from '../errors.js';
import type { ProcessObserver, WorkWatch } from './work.js';
import type { Metrics } from './metrics.js';

/** Stage names as the pipeline times them -> the metrics' `stage` label. */
const STAGES: Readonly<Record<string, string>> = { decode: 'decode', inference: 'segmentation', refine: 'refine', effect: 'effects', encode: 'encode', store: 'store' };

/** Not failures of the service's processing: it refused the work, or the client left. */
export const NOT_PROCESSED: ReadonlySet<string> = new Set(['PETCUT_E_OVERLOADED', 'PETCUT_E_MEMORY_PRESSURE', 'PETCUT_E_NOT_READY', 'PETCUT_E_SHUTTING_DOWN', 'PETCUT_E_CLIENT_CLOSED']);

/**
 * Turns each processed request into metrics: outcome, cache result, total
 * and per-stage times, and whether the instance was still cold (its first
 * inference not finished yet).
 */
export function processObserver(metrics: Metrics, warmedUp: () => boolean): ProcessObserver {
  let warm = false;
  return {
    done(outcome, seconds) {
      const cold = !warm && !warmedUp() && outcome.cache === 'miss';
      if (outcome.cache === 'miss') warm = true;
      if (cold) metrics.coldServed.inc();
      metrics.images.inc({ outcome: 'success' });
      metrics.cache.inc({ result: outcome.cache });
      metrics.processingDuration.observe({ cold: String(cold) }, seconds);
      for (const [name, ms] of Object.entries(outcome.times)) {
        const stage = STAGES[name];
        if (stage && Number.isFinite(ms)) metrics.stageDuration.observe({ stage }, ms / 1000);
      }
    },
    failed(error) {
      if (isPetcutError(error) && NOT_PROCESSED.has(error.code)) return;
      metrics.images.inc({ outcome: 'failure' });
    },
    waited(seconds) {
      metrics.queueWait.observe(seconds);
    },
  };
}

/** Several observers as one (metrics, cost meter, traces): each sees every call. */
export function combineObservers(...observers: ReadonlyArray<ProcessObserver | undefined>): ProcessObserver {
  const list = observers.filter((o): o is ProcessObserver => o !== undefined);
  return {
    done: (outcome, seconds) => list.forEach((o) => o.done?.(outcome, seconds)),
    failed: (error) => list.forEach((o) => o.failed?.(error)),
    waited: (seconds) => list.forEach((o) => o.waited?.(seconds)),
    begin(request) {
      const watches = list.map((o) => o.begin?.(request)).filter((w): w is WorkWatch => w !== undefined);
      if (watches.length === 0) return undefined;
      if (watches.length === 1) return watches[0];
      return {
        stage: (event) => watches.forEach((w) => w.stage?.(event)),
        end: (result) => watches.forEach((w) => w.end(result)),
      };
    },
  };
}
