// Percentiles and the per-route tallies of a run.

/** Nearest-rank percentile (the smallest value with at least p % of the values at or below it); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, v) => sum + v, 0) / (sorted.length || 1);
  const at = (p: number): number => round1(percentile(sorted, p));
  return { count: sorted.length, p50: at(50), p90: at(90), p95: at(95), p99: at(99), max: round1(sorted[sorted.length - 1] ?? Number.NaN), mean: round1(mean) };
}

/** One finished request (or request step: a job's upload, its events, its result). */
export interface Sample {
  route: string;
  scenario: string;
  /** ms after the run's start that it was sent. */
  at: number;
  ms: number;
  status: number;
  /** PETCUT_E_* from the error body, or a network error's code. */
  code?: string;
  cache?: string;
  stages?: Record<string, number>;
  cold?: boolean;
  /** A step of a scenario (a job's upload, events, result): reported per route, not counted as a request of its own. */
  step?: boolean;
}

/** A user error: 4xx other than 429 (the client's fault, not the service's). */
export const isUserError = (status: number): boolean => status >= 400 && status < 500 && status !== 429;
/** What counts against availability: 5xx, 429, and no answer at all (status 0). */
export const isServiceError = (status: number): boolean => status === 0 || status === 429 || status >= 500;

/** "decode;dur=12.3, inference;dur=80" -> {decode: 12.3, inference: 80}. */
export function parseServerTiming(header: string | null): Record<string, number> | undefined {
  if (!header) return undefined;
  const stages: Record<string, number> = {};
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().split(';');
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith('dur='));
    if (name && dur) stages[name] = Number(dur.slice(4));
  }
  return Object.keys(stages).length > 0 ? stages : undefined;
}

export function countBy<T>(items: readonly T[], key: (item: T) => string | undefined): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}
