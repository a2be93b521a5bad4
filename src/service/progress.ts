import type { StageEvent } from './processing.js';

/**
 * Turns pipeline stages into the events clients see: percent of the whole
 * job and an ETA from the recent per-image times on this instance.
 */
export type JobEvent =
  | { type: 'stage'; jobId: string; stage: string; percent: number; etaSeconds: number; file: number; of: number; message: string; position?: number; effect?: string }
  | { type: 'complete'; jobId: string; status: 'succeeded' | 'failed'; percent: 100; etaSeconds: 0; succeeded: number; failed: number }
  | { type: 'error'; jobId: string; file: number; of: number; code: string; message: string };

// Share of one image's time spent before each stage starts (measured on CPU: model ~70 %),
// in the order they come: the cache is checked before a miss joins the queue.
const STAGE_START: Record<string, number> = { cache: 0, queued: 0.02, decode: 0.04, segmentation: 0.1, refine: 0.7, effect: 0.8, encode: 0.85, store: 0.96 };
const MESSAGES: Record<string, string> = {
  queued: 'Waiting for a free worker', cache: 'Checking the cache', decode: 'Reading the photo', segmentation: 'Finding your pet',
  refine: 'Refining the edges', effect: 'Applying the style', encode: 'Encoding', store: 'Saving',
};

export interface FileProgress {
  stage(event: StageEvent): JobEvent;
  /** Records the image's time for later ETAs (only model runs: cache hits would skew them). */
  done(ranModel: boolean): void;
}

export interface ProgressTracker {
  start(jobId: string, file: number, of: number, outputs: number): FileProgress;
  /** Seconds for `files` images at the current pace. */
  estimate(files: number): number;
}

export function createProgressTracker(concurrency: () => number): ProgressTracker {
  // Exponential moving average of one image's processing time, seeded with the CPU measurement.
  let perImageS = 3;
  const round = (n: number): number => Math.round(n * 10) / 10;
  return {
    estimate: (files) => round(files * perImageS),
    start(jobId, file, of, outputs) {
      const began = performance.now();
      // Styles run side by side, so their stages interleave: the reported share only grows.
      let reached = 0;
      const fraction = (event: StageEvent): number => {
        const base = STAGE_START[event.stage] ?? 0;
        if ((event.stage === 'effect' || event.stage === 'encode') && 'index' in event) {
          return STAGE_START.effect! + (0.96 - STAGE_START.effect!) * (event.index + (event.stage === 'encode' ? 0.5 : 0)) / Math.max(1, outputs);
        }
        return base;
      };
      return {
        stage(event) {
          const within = (reached = Math.max(reached, fraction(event)));
          const percent = Math.min(99, Math.round(((file + within) / of) * 100));
          const waiting = event.stage === 'queued' ? event.position * perImageS / Math.max(1, concurrency()) : 0;
          const eta = round(waiting + (of - file - within) * perImageS);
          return {
            type: 'stage', jobId, stage: event.stage, percent, etaSeconds: eta, file, of,
            message: MESSAGES[event.stage] ?? event.stage,
            ...(event.stage === 'queued' ? { position: event.position } : {}),
            ...('effect' in event ? { effect: event.effect } : {}),
          };
        },
        done(ranModel) {
          if (ranModel) perImageS = perImageS * 0.8 + ((performance.now() - began) / 1000) * 0.2;
        },
      };
    },
  };
}
