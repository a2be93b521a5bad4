/**
 * The engine's measured pace: seconds per image (an exponential moving
 * average of real runs, under whatever load they ran) and the drain rate
 * that follows from it (concurrency images in service at once). Retry-After
 * says when there will be room at that average; admission predicts a new
 * image's time with a high quantile of the recent runs instead, because the
 * deadline is a P95 target and photos vary (measured: with the mean, 2x
 * overload admitted a P95 of 5.8 s against a 5 s deadline).
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
// The recent runs admission looks at, and the share of them a prediction must cover.
const RECENT = 20;
const QUANTILE = 0.8;

export function createPace(options: { readonly concurrency: number; readonly initialServiceS: number }): Pace {
  let serviceS = options.initialServiceS;
  let measured = false;
  const recent: number[] = [];
  const drainPerS = (): number => options.concurrency / serviceS;
  /** Seconds an image takes, covering QUANTILE of the recent runs (the estimate before any). */
  const slowS = (): number => {
    if (recent.length === 0) return serviceS;
    const sorted = [...recent].sort((a, b) => a - b);
    return Math.max(serviceS, sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * QUANTILE))]!);
  };
  // Waiting images drain at the average pace; the new one's own run is the slow case.
  const predicted = (n: number): number => Math.max(0, n - options.concurrency) / drainPerS() + slowS();
  return {
    observe(seconds) {
      if (!(seconds > 0) || !Number.isFinite(seconds)) return;
      serviceS = measured ? serviceS * (1 - WEIGHT) + seconds * WEIGHT : seconds;
      measured = true;
      recent.push(seconds);
      if (recent.length > RECENT) recent.shift();
    },
    serviceS: () => serviceS,
    drainPerS,
    fits: (n, deadlineS) => n <= options.concurrency || predicted(n) <= deadlineS,
    admissible: (deadlineS) => options.concurrency + Math.max(0, Math.floor((deadlineS - slowS()) * drainPerS())),
    retryAfterS: (over) => Math.min(MAX_RETRY_S, Math.max(1, Math.ceil(Math.max(1, over) / drainPerS()))),
  };
}
