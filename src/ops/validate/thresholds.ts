import { fileURLToPath } from 'node:url';
import { loadSloFile } from '../../slo/load.js';
import type { SloFile } from '../../slo/schema.js';

/** deploy/slo/petcut.slo.yml beside the package (same depth from src/ops/validate and dist/ops/validate). */
export const DEFAULT_SLO_FILE = fileURLToPath(new URL('../../../deploy/slo/petcut.slo.yml', import.meta.url));

/** A latency target: `percentile` % of events under `underS` seconds. */
export interface Percentile { readonly percentile: number; readonly underS: number; readonly source: string }

export interface Thresholds {
  readonly coldP95: Percentile;
  readonly coldP99: Percentile;
  /** Every single cold start (plan, section 1: "< 35s acceptable"). */
  readonly coldMaxS: number;
  readonly warmP95: Percentile;
  readonly warmP99: Percentile;
  readonly healthP95: Percentile;
  /** Memory under load as a share of the container's limit. */
  readonly memoryShare: number;
}

const PLAN = '../shared/plan/deployment-monitoring-plan.md';

/**
 * The numbers the SLO file holds come from it (warm P95, cold P99: the
 * objective is the percentile, the threshold the seconds); the plan's others,
 * which have no SLO objective, are written here with their section.
 */
export function thresholdsOf(slo: SloFile, source: string): Thresholds {
  const latency = (name: string): Percentile => {
    const objective = slo.objectives.find((o) => o.name === name);
    if (!objective || objective.sli.kind !== 'latency') throw new Error(`${source}: no latency objective "${name}" (validate reads its threshold from it)`);
    return { percentile: objective.objective, underS: objective.sli.threshold, source: `${source}: ${name}` };
  };
  return {
    coldP99: latency('cold-start-latency'),
    coldP95: { percentile: 95, underS: 30, source: `${PLAN}, section 6 ("Cold Start: P95 < 30s")` },
    coldMaxS: 35,
    warmP95: latency('warm-latency'),
    warmP99: { percentile: 99, underS: 8, source: `${PLAN}, section 6 ("Warm Request: P99 < 8s")` },
    healthP95: { percentile: 95, underS: 0.5, source: `${PLAN}, section 6 ("Health Check: P95 < 500ms")` },
    // Plan, section 1: "Memory efficiency (< 28Gi under load)" of production's 32Gi: the same share of any limit.
    memoryShare: 28 / 32,
  };
}

export async function loadThresholds(file = DEFAULT_SLO_FILE): Promise<Thresholds> {
  return thresholdsOf(await loadSloFile(file), file.includes('deploy/slo/') ? `deploy/slo/${file.split('deploy/slo/')[1]}` : file);
}

/** Nearest-rank percentile of `values` (ms or s); NaN for none. With few samples P99 is the maximum. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** "P95 2.10 s < 5 s" and whether it holds. */
export function judge(target: Percentile, seconds: readonly number[]): { ok: boolean; text: string; value: number } {
  const value = percentile(seconds, target.percentile);
  const ok = value < target.underS;
  return { ok, value, text: `P${target.percentile} ${formatS(value)} ${ok ? '<' : '>='} ${formatS(target.underS)}` };
}

export function formatS(seconds: number): string {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(2)} s`;
}
