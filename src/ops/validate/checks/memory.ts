import { badRefusal, describeNetworkError, isImage, jpegBody } from '../client.js';
import type { Client } from '../client.js';
import type { CheckContext, CheckResult } from '../types.js';

const MB = 1024 * 1024;
/** Refusals the memory-pressure simulation may end in (docs/http-api.md, Capacity and health). */
const SHEDDING = new Set(['PETCUT_E_OVERLOADED', 'PETCUT_E_MEMORY_PRESSURE']);

/** The memory gauges (deploy/prometheus/METRICS.md): the process's RSS and the container's cgroup use and limit. */
interface Memory { rss: number; used: number; limit: number }

function gauge(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.trim().split(/\s+/)[1]) : 0;
}

async function readMemory(client: Client): Promise<Memory | string> {
  const answer = await client.send('/metrics', { credential: 'operator' });
  if (answer.status !== 200) return `/metrics answered ${answer.status} (set PETCUT_VALIDATE_OPERATOR_KEY, or run where the scraper's addresses are allowed)`;
  const text = answer.body.toString('utf8');
  return { rss: gauge(text, 'process_resident_memory_bytes'), used: gauge(text, 'petcut_memory_usage_bytes'), limit: gauge(text, 'petcut_memory_limit_bytes') };
}

/** --memory-limit-mb, else what /health reports, else the gauge; 0 when none is known. */
async function limitBytes(ctx: CheckContext, fromMetrics: number): Promise<{ bytes: number; source: string }> {
  if (ctx.options.memoryLimitMb) return { bytes: ctx.options.memoryLimitMb * MB, source: '--memory-limit-mb' };
  const health = await ctx.client.send('/health', { credential: 'operator' });
  const reported = (JSON.parse(health.body.toString('utf8') || '{}') as { memory?: { limitMb?: number } }).memory?.limitMb ?? 0;
  if (reported > 0) return { bytes: reported * MB, source: '/health' };
  return { bytes: fromMetrics, source: 'petcut_memory_limit_bytes' };
}

/**
 * Memory under load: high-resolution photos sent all at once; every answer is
 * a cut-out or a shed 503 with Retry-After, the instance still answers
 * /healthz afterwards, and the peak memory read from /metrics meanwhile stays
 * under the plan's share of the limit.
 */
export async function memoryCheck(ctx: CheckContext): Promise<CheckResult> {
  const before = await readMemory(ctx.client);
  if (typeof before === 'string') return { status: 'fail', detail: before };
  const photos = await Promise.all(Array.from({ length: ctx.options.pressure }, () => ctx.photos.next(ctx.options.size)));
  let peak = { ...before };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const now = await readMemory(ctx.client).catch(() => undefined);
      if (now && typeof now !== 'string') peak = { rss: Math.max(peak.rss, now.rss), used: Math.max(peak.used, now.used), limit: now.limit };
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  ctx.progress(`memory: ${photos.length} photos at once`);
  const answers = await Promise.all(photos.map((photo) => ctx.client.send('/v1/cutouts', jpegBody(photo)).catch((error: unknown) => describeNetworkError(error))));
  sampling = false;
  await sampler;
  const problems: string[] = [];
  let shed = 0;
  answers.forEach((answer, i) => {
    if (typeof answer === 'string') return problems.push(`photo ${i + 1}: no answer (${answer})`);
    if (answer.status === 200) return isImage(answer.body) || problems.push(`photo ${i + 1}: a 200 without an image`);
    const bad = badRefusal(answer);
    if (bad) return problems.push(`photo ${i + 1}: ${bad}`);
    if (answer.status === 503 && !SHEDDING.has(String(JSON.parse(answer.body.toString('utf8')).error?.code))) return problems.push(`photo ${i + 1}: a 503 that is not load shedding`);
    shed++;
  });
  const alive = await ctx.client.send('/healthz').then((a) => a.status === 200, () => false);
  if (!alive) problems.push('/healthz no longer answers 200 after the burst (a crash?)');
  const limit = await limitBytes(ctx, peak.limit);
  const usedMb = Math.round(Math.max(peak.rss, limit.source === 'petcut_memory_limit_bytes' ? peak.used : 0) / MB);
  const allowedMb = Math.round((limit.bytes * ctx.thresholds.memoryShare) / MB);
  if (limit.bytes > 0 && usedMb >= allowedMb) problems.push(`peak memory ${usedMb} MB >= ${allowedMb} MB (${Math.round(ctx.thresholds.memoryShare * 1000) / 10} % of the ${Math.round(limit.bytes / MB)} MB limit)`);
  const measured = { photos: photos.length, shed, peakRssMb: Math.round(peak.rss / MB), peakUsedMb: Math.round(peak.used / MB), limitMb: Math.round(limit.bytes / MB), limitSource: limit.source };
  if (problems.length > 0) return { status: 'fail', detail: problems.slice(0, 3).join('; '), measured };
  const against = limit.bytes > 0 ? `< ${allowedMb} MB (${Math.round(ctx.thresholds.memoryShare * 1000) / 10} % of ${Math.round(limit.bytes / MB)} MB, from ${limit.source})` : 'no limit known (pass --memory-limit-mb): not compared';
  const pressure = shed > 0 ? `${shed} shed with 503 + Retry-After` : 'none shed: the instance took them all';
  return { status: 'pass', detail: `${photos.length} photos at once: ${photos.length - shed} cut out, ${pressure}; peak ${usedMb} MB ${against}`, measured };
}
