// Pass/fail like k6's thresholds, with every number from the SLO file
// (deploy/slo/petcut.slo.yml): the profile only names objectives. A latency
// objective of 95 % under 5 s becomes "P95 of these routes < 5 s" (the client's
// end-to-end time, upload and queue included: stricter than the server's own
// histogram); a ratio objective of 99.5 % becomes "service errors < 0.5 % of
// requests" and, named apart, "503s < 0.5 %".
import type { SloFile } from '../../slo/schema.js';
import type { Profile } from './profiles.js';
import { ProfileFileError } from './profiles.js';
import { ROUTES } from './client.js';
import { isServiceError, percentile } from './stats.js';
import type { Sample } from './stats.js';

export interface ThresholdResult {
  name: string;
  objective: string;
  metric: string;
  limit: number;
  value: number;
  unit: 'ms' | 'share';
  samples: number;
  pass: boolean;
}

function objectiveOf(slo: SloFile, name: string, source: string) {
  const found = slo.objectives.find((o) => o.name === name);
  if (!found) throw new ProfileFileError(`thresholds: objective "${name}" is not in ${source} (it has ${slo.objectives.map((o) => o.name).join(', ')})`);
  return found;
}

/** Which samples a latency objective judges: its cold="true"/"false" matcher picks cold or warm requests. */
function coldFilter(matchers: string | undefined): (sample: Sample) => boolean {
  if (matchers?.includes('cold="true"')) return (s) => s.cold === true;
  if (matchers?.includes('cold="false"')) return (s) => s.cold !== true;
  return () => true;
}

export function evaluateThresholds(profile: Profile, slo: SloFile, sloSource: string, primary: readonly Sample[]): ThresholdResult[] {
  const results: ThresholdResult[] = [];
  for (const rule of profile.thresholds.latency) {
    const objective = objectiveOf(slo, rule.objective, sloSource);
    if (objective.sli.kind !== 'latency') throw new ProfileFileError(`thresholds.latency: objective "${rule.objective}" is a ${objective.sli.kind} SLI, not latency`);
    const limit = objective.sli.threshold * 1000;
    const judged = coldFilter(objective.sli.matchers);
    for (const scenario of rule.scenarios) {
      // Only answered requests have a latency worth judging; failures count in the error thresholds.
      const ms = primary.filter((s) => s.scenario === scenario && judged(s) && s.status >= 200 && s.status < 400).map((s) => s.ms).sort((a, b) => a - b);
      if (ms.length === 0) continue;
      const value = percentile(ms, objective.objective);
      results.push({ name: `${rule.objective}: P${objective.objective} ${ROUTES[scenario]} < ${limit} ms`, objective: rule.objective, metric: `p${objective.objective}`, limit, value: Math.round(value), unit: 'ms', samples: ms.length, pass: value < limit });
    }
  }
  if (profile.thresholds.errors) {
    const objective = objectiveOf(slo, profile.thresholds.errors, sloSource);
    const limit = 1 - objective.objective / 100;
    const total = primary.length;
    const share = (count: number): number => (total === 0 ? 0 : count / total);
    const errors = share(primary.filter((s) => isServiceError(s.status)).length);
    const overloaded = share(primary.filter((s) => s.status === 503).length);
    const round = (v: number): number => Math.round(v * 1e5) / 1e5;
    results.push({ name: `${objective.name}: error rate (5xx, 429, no answer; 4xx excluded) < ${round(limit * 100)} %`, objective: objective.name, metric: 'error_rate', limit: round(limit), value: round(errors), unit: 'share', samples: total, pass: errors < limit });
    results.push({ name: `${objective.name}: 503 share < ${round(limit * 100)} %`, objective: objective.name, metric: '503_share', limit: round(limit), value: round(overloaded), unit: 'share', samples: total, pass: overloaded < limit });
  }
  return results;
}
