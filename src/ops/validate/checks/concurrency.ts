import { badRefusal, describeNetworkError, isImage, jpegBody } from '../client.js';
import type { CheckContext, CheckResult } from '../types.js';

/**
 * `--concurrency` cut-outs of unique photos sent at once (the plan's 100
 * concurrent users): nothing lost. Every request is answered; every 200 is an
 * image; every refusal is coded (src/errors.ts) and a 4xx or a 503 with
 * Retry-After, which is how a full queue must look to the storefront.
 */
export async function concurrencyCheck(ctx: CheckContext): Promise<CheckResult> {
  const count = ctx.options.concurrency;
  ctx.progress(`concurrency: making ${count} unique photos`);
  const photos: Buffer[] = [];
  for (let i = 0; i < count; i++) photos.push(await ctx.photos.next(ctx.options.size));
  ctx.progress(`concurrency: ${count} requests at once`);
  const answers = await Promise.all(photos.map((photo) => ctx.client.send('/v1/cutouts', jpegBody(photo)).catch((error: unknown) => describeNetworkError(error))));
  const problems: string[] = [];
  const statuses: Record<string, number> = {};
  answers.forEach((answer, i) => {
    const key = typeof answer === 'string' ? 'lost' : String(answer.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
    if (typeof answer === 'string') problems.push(`request ${i + 1}: no answer (${answer})`);
    else if (answer.status === 200) {
      if (!isImage(answer.body)) problems.push(`request ${i + 1}: a 200 that is not an image`);
    } else {
      const bad = badRefusal(answer);
      if (bad) problems.push(`request ${i + 1}: ${bad}`);
    }
  });
  const summary = Object.entries(statuses).map(([status, n]) => `${n} x ${status}`).join(', ');
  if (problems.length > 0) return { status: 'fail', detail: `${summary}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (+${problems.length - 3} more)` : ''}`, measured: { count, statuses } };
  return { status: 'pass', detail: `${count} at once: ${summary}; every 200 an image, every refusal coded${statuses['503'] ? ' (503s with Retry-After)' : ''}`, measured: { count, statuses } };
}
