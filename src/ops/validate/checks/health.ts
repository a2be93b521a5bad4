import { formatS, judge } from '../thresholds.js';
import type { CheckContext, CheckResult, HealthSample } from '../types.js';
import type { Client } from '../client.js';

/** How often /healthz is sampled in the background while the other checks load the service. */
export const HEALTH_INTERVAL_MS = 250;

/** Samples /healthz until stopped; a request that got no answer counts as status 0. */
export function sampleHealth(client: Client, samples: HealthSample[]): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const status = await client.send('/healthz', { credential: 'none', timeoutS: 10 }).then((a) => a.status, () => 0);
      samples.push({ ms: performance.now() - started, status });
      await new Promise((resolve) => setTimeout(resolve, HEALTH_INTERVAL_MS));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/** /healthz P95 over the samples taken while the other checks ran. */
export async function healthCheck(ctx: CheckContext): Promise<CheckResult> {
  await Promise.resolve();
  const samples = ctx.healthSamples;
  if (samples.length === 0) return { status: 'fail', detail: 'no /healthz sample was taken' };
  const failed = samples.filter((s) => s.status !== 200).length;
  const p95 = judge(ctx.thresholds.healthP95, samples.map((s) => s.ms / 1000));
  const worst = Math.max(...samples.map((s) => s.ms)) / 1000;
  const ok = p95.ok && failed === 0;
  return {
    status: ok ? 'pass' : 'fail',
    detail: `${samples.length} /healthz samples during the other checks: ${p95.text}, slowest ${formatS(worst)}${failed ? `, ${failed} not 200` : ''}`,
    measured: { samples: samples.length, p95S: p95.value, worstS: worst, failed },
  };
}
