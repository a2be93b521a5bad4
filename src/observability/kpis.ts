import { ERRORS, isPetcutError } from '../errors.js';
import { NOT_PROCESSED } from './processObserver.js';
import type { KpiSeries, KpiTotals, LatencySummary } from './kpiTypes.js';
import type { ProcessObserver } from './work.js';

export type * from './kpiTypes.js';

/**
 * The operator dashboard's numbers (#19): a server-side ring buffer of
 * per-minute aggregates, fed by hooks that already run (the HTTP metrics
 * hook, the processing observer) with O(1) counter updates, and by a 5 s
 * sampler off the request path (queue, memory, GPU, the cost meter).
 *
 * Memory is bounded whatever the traffic: KPI_MINUTES slots (24 h), each a
 * few numbers, a 141-counter latency histogram (564 bytes, made only for a
 * minute with photos) and one counter per error code of src/errors.ts plus
 * "other" (made only for a minute with errors): at most ~1 KB a slot, about
 * 1.5 MB in all, never more slots (old minutes are overwritten in place).
 */
export const KPI_MINUTES = 1440;
export const MINUTE_MS = 60_000;
export const SAMPLE_MS = 5000;

// Processing time histogram: bucket 0 is < 1 ms, bucket i >= 1 covers [1.1^(i-1), 1.1^i) ms, up to
// 1.1^140 ms (~10 min; longer lands in the last). A percentile is reported at its bucket's geometric
// middle: within 5 % of the true value.
const RATIO = 1.1;
const LATENCY_BUCKETS = 141;
const LOG_RATIO = Math.log(RATIO);

/** Error codes as a fixed index (the bounded label set): src/errors.ts's, then "other". */
const CODES = [...Object.keys(ERRORS), 'other'];
const CODE_INDEX = new Map(CODES.map((code, i) => [code, i]));

interface Slot {
  minute: number;
  requests: number; errors: number; serverErrors: number;
  images: number; failures: number; coldServed: number;
  hit: number; cutout: number; miss: number;
  costUsd: number;
  latency?: Uint32Array;
  codes?: Uint32Array;
  queueDepth: number | null; inFlight: number | null;
  memoryUsedBytes: number | null; memoryLimitBytes: number | null;
  gpuUtilization: number | null; gpuMemoryUsedBytes: number | null; gpuTemperatureC: number | null;
}

/** What the sampler reads every SAMPLE_MS (all synchronous, no I/O). */
export interface KpiSample {
  readonly queued: number;
  readonly inFlight: number;
  readonly memory?: { readonly usedBytes: number; readonly limitBytes: number };
  readonly gpus: ReadonlyArray<{ readonly utilization: number | null; readonly memoryUsedBytes: number | null; readonly temperatureC?: number | null }>;
  /** The cost meter's running total since start (USD); the minute gets what accrued since the last sample. */
  readonly costTotalUsd?: number;
}

export interface FirstRequest { readonly at: number; readonly ms: number; readonly cold: boolean }

export interface KpiRecorder {
  /** One HTTP request answered (the metrics hook); `code` is its PETCUT_E_* code, if it failed. */
  request(status: number, code: string | undefined): void;
  /** The processing observer: photos, failures, times, cache results, cold-served ones. */
  observer(warmedUp: () => boolean): ProcessObserver;
  /** Takes a sample now (the timer does it every SAMPLE_MS). */
  sample(): void;
  /** The last `minutes` minutes (1..KPI_MINUTES), oldest first, ending with the current one. */
  window(minutes: number): { series: KpiSeries; totals: KpiTotals };
  firstRequest(): FirstRequest | undefined;
  /** The model is ready: process start to now is this instance's cold start. */
  ready(): void;
  /** When the model became ready and the cold start (process start to then, seconds). */
  readiness(): { readonly at: number; readonly coldStartS: number } | undefined;
  /** Slots in use and an estimate of their bytes (the bound's test). */
  footprint(): { slots: number; bytes: number };
  close(): void;
}

export interface KpiRecorderOptions {
  readonly now?: () => number;
  readonly minutes?: number;
  /** Read every SAMPLE_MS; none: no sampler (tests call sample()). Undefined: nothing to read yet (start-up). */
  readonly sampler?: () => KpiSample | undefined;
  readonly sampleMs?: number;
}

const emptySlot = (minute: number): Slot => ({
  minute, requests: 0, errors: 0, serverErrors: 0, images: 0, failures: 0, coldServed: 0, hit: 0, cutout: 0, miss: 0, costUsd: 0,
  queueDepth: null, inFlight: null, memoryUsedBytes: null, memoryLimitBytes: null, gpuUtilization: null, gpuMemoryUsedBytes: null, gpuTemperatureC: null,
});

export function latencyBucket(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(LATENCY_BUCKETS - 1, 1 + Math.floor(Math.log(ms) / LOG_RATIO));
}

const bucketValue = (i: number): number => (i === 0 ? 0.5 : RATIO ** (i - 0.5));

/** The p-th percentile (0-1) of a histogram, at the bucket's geometric middle (ms, 3 significant digits). */
export function percentile(histogram: Uint32Array, count: number, p: number): number | null {
  if (count === 0) return null;
  const rank = Math.max(1, Math.ceil(p * count));
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= rank) return Number(bucketValue(i).toPrecision(3));
  }
  return null;
}

const maxOf = (a: number | null, b: number): number => (a === null ? b : Math.max(a, b));
const maxOfReported = (a: number | null, b: number | null | undefined): number | null => (typeof b === 'number' ? maxOf(a, b) : a);

export function createKpiRecorder(options: KpiRecorderOptions = {}): KpiRecorder {
  const now = options.now ?? Date.now;
  const capacity = options.minutes ?? KPI_MINUTES;
  const slots: Array<Slot | undefined> = new Array<Slot | undefined>(capacity);
  let first: FirstRequest | undefined;
  let lastCost: number | undefined;
  let readiness: { at: number; coldStartS: number } | undefined;

  /** The current minute's slot: a slot still holding a minute from a lap ago is emptied first. */
  const current = (): Slot => {
    const minute = Math.floor(now() / MINUTE_MS);
    const index = minute % capacity;
    let slot = slots[index];
    if (slot?.minute !== minute) slots[index] = slot = emptySlot(minute);
    return slot;
  };

  const sample = (): void => {
    if (!options.sampler) return;
    // A timer callback that throws would take the process down: a failed read is one missing sample.
    let s: KpiSample | undefined;
    try { s = options.sampler(); } catch { return; }
    if (!s) return;
    const slot = current();
    slot.queueDepth = maxOf(slot.queueDepth, s.queued);
    slot.inFlight = maxOf(slot.inFlight, s.inFlight);
    if (s.memory) {
      slot.memoryUsedBytes = maxOf(slot.memoryUsedBytes, s.memory.usedBytes);
      slot.memoryLimitBytes = s.memory.limitBytes;
    }
    for (const gpu of s.gpus) {
      // A value the GPU does not report ("[N/A]") leaves the minute as it was.
      slot.gpuUtilization = maxOfReported(slot.gpuUtilization, gpu.utilization);
      slot.gpuMemoryUsedBytes = maxOfReported(slot.gpuMemoryUsedBytes, gpu.memoryUsedBytes);
      slot.gpuTemperatureC = maxOfReported(slot.gpuTemperatureC, gpu.temperatureC);
    }
    if (s.costTotalUsd !== undefined) {
      // The first sample books what the meter counted since it started: images done before the first tick are priced too.
      slot.costUsd += Math.max(0, s.costTotalUsd - (lastCost ?? 0));
      lastCost = s.costTotalUsd;
    }
  };
  const timer = options.sampler ? setInterval(sample, options.sampleMs ?? SAMPLE_MS) : undefined;
  timer?.unref();

  return {
    request(status, code) {
      const slot = current();
      slot.requests += 1;
      if (status >= 500) slot.serverErrors += 1;
      if (status < 400) return;
      slot.errors += 1;
      const codes = (slot.codes ??= new Uint32Array(CODES.length));
      codes[CODE_INDEX.get(code ?? 'other') ?? CODES.length - 1]! += 1;
    },
    observer(warmedUp) {
      let warm = false;
      return {
        done(outcome, seconds) {
          // The same rule as petcut_cold_served_requests_total (processObserver.ts).
          const cold = !warm && !warmedUp() && outcome.cache === 'miss';
          if (outcome.cache === 'miss') warm = true;
          const ms = seconds * 1000;
          first ??= { at: now(), ms: Math.round(ms), cold };
          const slot = current();
          slot.images += 1;
          if (cold) slot.coldServed += 1;
          slot[outcome.cache] += 1;
          (slot.latency ??= new Uint32Array(LATENCY_BUCKETS))[latencyBucket(ms)]! += 1;
        },
        failed(error) {
          if (isPetcutError(error) && NOT_PROCESSED.has(error.code)) return;
          current().failures += 1;
        },
      };
    },
    sample,
    window: (minutes) => windowOf(slots, capacity, Math.floor(now() / MINUTE_MS), Math.max(1, Math.min(capacity, Math.floor(minutes)))),
    firstRequest: () => first,
    ready() {
      readiness ??= { at: now(), coldStartS: Math.round(process.uptime() * 10) / 10 };
    },
    readiness: () => readiness,
    footprint() {
      let used = 0;
      let bytes = 0;
      for (const slot of slots) {
        if (!slot) continue;
        used += 1;
        bytes += 200 + (slot.latency?.byteLength ?? 0) + (slot.codes?.byteLength ?? 0);
      }
      return { slots: used, bytes };
    },
    close: () => clearInterval(timer),
  };
}

function windowOf(slots: ReadonlyArray<Slot | undefined>, capacity: number, last: number, minutes: number): { series: KpiSeries; totals: KpiTotals } {
  const list: Slot[] = [];
  for (let minute = last - minutes + 1; minute <= last; minute++) {
    const slot = slots[((minute % capacity) + capacity) % capacity];
    list.push(slot?.minute === minute ? slot : emptySlot(minute));
  }
  const pick = <K extends keyof Slot>(key: K): Array<Slot[K]> => list.map((s) => s[key]);
  const latency = list.map((s) => summary(s.latency, s.images));
  const codesSeen = CODES.map((code, i) => ({ code, i })).filter(({ i }) => list.some((s) => (s.codes?.[i] ?? 0) > 0));
  const series: KpiSeries = {
    t: list.map((s) => s.minute * MINUTE_MS),
    requests: pick('requests'), errors: pick('errors'), serverErrors: pick('serverErrors'), images: pick('images'), failures: pick('failures'),
    p50: latency.map((l) => l.p50), p95: latency.map((l) => l.p95), p99: latency.map((l) => l.p99),
    cacheHitRate: list.map((s) => hitRate(s.hit, s.cutout, s.miss)),
    queueDepth: pick('queueDepth'), inFlight: pick('inFlight'), memoryUsedBytes: pick('memoryUsedBytes'), memoryLimitBytes: pick('memoryLimitBytes'),
    gpuUtilization: pick('gpuUtilization'), gpuMemoryUsedBytes: pick('gpuMemoryUsedBytes'), gpuTemperatureC: pick('gpuTemperatureC'),
    costUsd: pick('costUsd'), coldServed: pick('coldServed'),
    errorsByCode: Object.fromEntries(codesSeen.map(({ code, i }) => [code, list.map((s) => s.codes?.[i] ?? 0)])),
  };
  return { series, totals: totalsOf(list, minutes, codesSeen) };
}

function totalsOf(list: readonly Slot[], minutes: number, codes: ReadonlyArray<{ code: string; i: number }>): KpiTotals {
  const sum = (key: 'requests' | 'errors' | 'serverErrors' | 'images' | 'failures' | 'hit' | 'cutout' | 'miss' | 'coldServed' | 'costUsd'): number => list.reduce((n, s) => n + s[key], 0);
  const merged = new Uint32Array(LATENCY_BUCKETS);
  for (const s of list) if (s.latency) for (let i = 0; i < LATENCY_BUCKETS; i++) merged[i]! += s.latency[i]!;
  const [requests, serverErrors, images, failures] = [sum('requests'), sum('serverErrors'), sum('images'), sum('failures')];
  const [hit, cutout, miss] = [sum('hit'), sum('cutout'), sum('miss')];
  return {
    minutes, requests, requestsPerMinute: Math.round((requests / minutes) * 100) / 100, errors: sum('errors'), serverErrors,
    errorRate: requests > 0 ? serverErrors / requests : null,
    images, failures, successRate: images + failures > 0 ? images / (images + failures) : null,
    latencyMs: summary(merged, images),
    cache: { hit, cutout, miss, hitRate: hitRate(hit, cutout, miss) },
    errorsByCode: Object.fromEntries(codes.map(({ code, i }) => [code, list.reduce((n, s) => n + (s.codes?.[i] ?? 0), 0)])),
    coldServed: sum('coldServed'), costUsd: sum('costUsd'),
  };
}

function summary(histogram: Uint32Array | undefined, count: number): LatencySummary {
  if (!histogram || count === 0) return { count: 0, p50: null, p95: null, p99: null };
  return { count, p50: percentile(histogram, count, 0.5), p95: percentile(histogram, count, 0.95), p99: percentile(histogram, count, 0.99) };
}

function hitRate(hit: number, cutout: number, miss: number): number | null {
  const all = hit + cutout + miss;
  return all > 0 ? (hit + cutout) / all : null;
}
