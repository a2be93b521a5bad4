import { describeNetworkError, createClient } from './client.js';
import { CHECKS } from './checks.js';
import { sampleHealth } from './checks/health.js';
import { createPhotoMaker } from './photos.js';
import type { Thresholds } from './thresholds.js';
import type { CheckContext, CheckId, CheckResult, HealthSample, ValidateOptions } from './types.js';

export interface CheckReport extends CheckResult {
  readonly id: CheckId;
  readonly title: string;
  readonly weight: number;
  readonly threshold: string;
  readonly seconds: number;
}

export interface ValidationReport {
  readonly url: string;
  readonly startedAt: string;
  /** Passed weight over the weight of the checks that ran, 0-100. */
  readonly score: number;
  readonly passed: boolean;
  readonly photos: string;
  readonly checks: readonly CheckReport[];
}

/** The target did not answer /healthz at all: exit 3, not a failed check. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
}

/** The checks the background /healthz sampler runs beside. */
const LOADED: readonly CheckId[] = ['warm', 'memory', 'storage', 'cors', 'websocket', 'concurrency'];
// With none of them chosen, the health check samples an idle service this long.
const IDLE_HEALTH_MS = 3000;

async function reachable(options: ValidateOptions): Promise<void> {
  const target = `${options.url.replace(/\/+$/, '')}/healthz`;
  try {
    await fetch(target, { signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    throw new UnreachableError(`cannot reach ${target} (${describeNetworkError(error)}): check the URL, that the service is deployed and listening, and that this machine may call it (Cloud Run without --allow-unauthenticated needs an identity token in front)`);
  }
}

export function scoreOf(checks: readonly CheckReport[]): number {
  const ran = checks.filter((c) => c.status !== 'skipped');
  const total = ran.reduce((sum, c) => sum + c.weight, 0);
  return total === 0 ? 0 : Math.round((100 * ran.filter((c) => c.status === 'pass').reduce((sum, c) => sum + c.weight, 0)) / total);
}

/** Runs the chosen checks in order, one line of progress per step; never throws for a failed check. */
export async function runValidation(options: ValidateOptions, thresholds: Thresholds, progress: (line: string) => void): Promise<ValidationReport> {
  await reachable(options);
  const startedAt = new Date().toISOString();
  const client = createClient(options.url, options, options.timeoutS);
  const photos = await createPhotoMaker(options.photos);
  const healthSamples: HealthSample[] = [];
  const ctx: CheckContext = { options, thresholds, client, photos, progress, healthSamples };
  const chosen = CHECKS.filter((check) => options.checks.includes(check.id));
  let stopSampling: (() => Promise<void>) | undefined;
  const reports: CheckReport[] = [];
  for (const check of chosen) {
    if (check.id === 'health') {
      if (!stopSampling) stopSampling = sampleHealth(client, healthSamples);
      if (!chosen.some((c) => LOADED.includes(c.id))) await new Promise((resolve) => setTimeout(resolve, IDLE_HEALTH_MS));
      await stopSampling();
    } else if (LOADED.includes(check.id) && options.checks.includes('health') && !stopSampling) {
      stopSampling = sampleHealth(client, healthSamples);
    }
    progress(`${check.id}: running (${check.threshold})`);
    const started = performance.now();
    const result = await check.run(ctx).catch((error: unknown): CheckResult => ({ status: 'fail', detail: `stopped: ${describeNetworkError(error)}` }));
    const report = { id: check.id, title: check.title, weight: check.weight, threshold: check.threshold, seconds: Math.round(performance.now() - started) / 1000, ...result };
    reports.push(report);
    progress(`${check.id}: ${report.status} (${report.seconds} s)`);
  }
  const score = scoreOf(reports);
  return { url: client.base, startedAt, score, passed: reports.every((r) => r.status !== 'fail'), photos: photos.source, checks: reports };
}

export function formatReport(report: ValidationReport): string {
  const lines = report.checks.map((c) => `${c.status.toUpperCase().padEnd(7)} ${c.title} [${c.weight}]: ${c.detail}`);
  const skipped = report.checks.filter((c) => c.status === 'skipped').length;
  lines.push(`score ${report.score}/100 (${report.checks.length - skipped} run, ${skipped} skipped and left out of the score): ${report.passed ? 'PASS' : 'FAIL'}`);
  return `${lines.join('\n')}\n`;
}
