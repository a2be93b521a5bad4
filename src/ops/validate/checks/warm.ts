import { isImage, jpegBody } from '../client.js';
import type { Answer } from '../client.js';
import { formatS, judge } from '../thresholds.js';
import type { CheckContext, CheckResult } from '../types.js';

/** Retries while the model loads (503 PETCUT_E_NOT_READY); any other answer is returned. */
export async function cutOutWhenReady(ctx: CheckContext, photo: Buffer, deadlineS = 120): Promise<Answer> {
  const until = Date.now() + deadlineS * 1000;
  for (;;) {
    const answer = await ctx.client.send('/v1/cutouts', jpegBody(photo));
    if (answer.status !== 503 || Date.now() > until) return answer;
    const wait = Math.min(5, Number(answer.headers.get('retry-after') ?? 1)) * 1000;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Warm processing: one unmeasured cut-out, then `samples` timed ones of unique phone-size photos. */
export async function warmCheck(ctx: CheckContext): Promise<CheckResult> {
  const { samples, size } = ctx.options;
  const first = await cutOutWhenReady(ctx, await ctx.photos.next(size));
  if (first.status !== 200) return { status: 'fail', detail: `the warm-up cut-out answered ${first.status}: ${first.body.toString('utf8').slice(0, 200)}` };
  const seconds: number[] = [];
  for (let i = 0; i < samples; i++) {
    const photo = await ctx.photos.next(size);
    const answer = await ctx.client.send('/v1/cutouts', jpegBody(photo));
    if (answer.status !== 200 || !isImage(answer.body)) return { status: 'fail', detail: `sample ${i + 1} answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 200)}` };
    const cache = answer.headers.get('x-cache');
    if (cache !== 'MISS') return { status: 'fail', detail: `sample ${i + 1} was a cache ${cache ?? '(no X-Cache)'}, not a MISS: the photos are not unique, the timing would be the cache's` };
    seconds.push(answer.ms / 1000);
    ctx.progress(`warm ${i + 1}/${samples}: ${formatS(answer.ms / 1000)} (${cache})`);
  }
  const p95 = judge(ctx.thresholds.warmP95, seconds);
  const p99 = judge(ctx.thresholds.warmP99, seconds);
  const photo = size === 'full' ? '4000x3000' : '1024x768 (--size preview)';
  return {
    status: p95.ok && p99.ok ? 'pass' : 'fail',
    detail: `${samples} unique ${photo} photos, all MISS: ${p95.text}, ${p99.text}`,
    measured: { samples, size, seconds, p95S: p95.value, p99S: p99.value },
  };
}
