/**
 * The engine's measured pace: seconds per image (an exponential moving
 * average of real runs, under whatever load they ran) and the drain rate
 * that follows from it (concurrency images in service at once). Admission
 * uses it to predict how long a new image would take, and Retry-After to say
 * when there will be room.
 */
export interface Pace {
  observe(seconds: number): void;
  serviceS(): number;
  drainPerS(): number;
  /** Whether the n-th image in flight (counting itself) would finish within `deadlineS`. */
  fits(n: number, deadlineS: number): boolean;
  /** The most images in flight that still fit the deadline (never below the concurrency: a free worker always takes work). */
  admissible(deadlineS: number): number;
  /** Seconds until `over` images have drained (1 to 60), at the measured pace (the initial estimate before any run). */
  retryAfterS(over: number): number;
}

// Recent runs count most; ten or so make up the estimate (a mix of preview and full-size photos).
const WEIGHT = 0.2;
// Retry-After is a hint for a client's next try: past a minute, the instance is better replaced.
const MAX_RETRY_S = 60;

export function createPace(options: { readonly concurrency: number; readonly initialServiceS: number }): Pace {
  let serviceS = options.initialServiceS;
  let measured = false;

  const drainPerS = (): number => options.concurrency / serviceS;
  const predicted = (n: number): number => Math.max(0, n - options.concurrency) / drainPerS() + serviceS;
  return {
    observe(seconds) {
      if (!(seconds > 0) || !Number.isFinite(seconds)) return;
      serviceS = measured ? serviceS * (1 - WEIGHT) + seconds * WEIGHT : seconds;
      measured = true;
    },
    serviceS: () => serviceS,
    drainPerS,
    fits: (n, deadlineS) => n <= options.concurrency || predicted(n) <= deadlineS,
    admissible: (deadlineS) => options.concurrency + Math.max(0, Math.floor((deadlineS - serviceS) * drainPerS())),
    retryAfterS: (over) => Math.min(MAX_RETRY_S, Math.max(1, Math.ceil(Math.max(1, over) / drainPerS()))),
  };
}
