import { spawn } from 'node:child_process';
import { formatS, judge } from '../thresholds.js';
import type { CheckContext, CheckResult } from '../types.js';
import { cutOutWhenReady } from './warm.js';

/** Runs the --cold hook through a shell, with PETCUT_VALIDATE_URL set; rejects on a non-zero exit. */
function runHook(command: string, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, PETCUT_VALIDATE_URL: url } });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the --cold command exited ${code}`))));
  });
}

/**
 * Cold start: the hook makes the target cold (restart, scale to zero), then
 * the clock runs from the hook's exit to the first cut-out answered 200,
 * retrying while nothing listens or the model still loads.
 */
export async function coldCheck(ctx: CheckContext): Promise<CheckResult> {
  const { cold, coldRuns, size } = ctx.options;
  if (!cold) return { status: 'skipped', detail: 'no --cold <command> to make the target cold (a restart, or a scale to zero): cold starts cannot be provoked without one' };
  const seconds: number[] = [];
  for (let run = 1; run <= coldRuns; run++) {
    await runHook(cold, ctx.client.base);
    const started = performance.now();
    const photo = await ctx.photos.next(size);
    const answer = await firstAnswer(ctx, photo, ctx.thresholds.coldMaxS * 2);
    if (answer !== 200) return { status: 'fail', detail: `cold run ${run}: ${answer}` };
    seconds.push((performance.now() - started) / 1000);
    ctx.progress(`cold ${run}/${coldRuns}: ${formatS(seconds.at(-1)!)}`);
  }
  const worst = Math.max(...seconds);
  const p95 = judge(ctx.thresholds.coldP95, seconds);
  const p99 = judge(ctx.thresholds.coldP99, seconds);
  const ok = p95.ok && p99.ok && worst < ctx.thresholds.coldMaxS;
  return { status: ok ? 'pass' : 'fail', detail: `${coldRuns} cold starts: ${p95.text}, ${p99.text}, slowest ${formatS(worst)} (each < ${ctx.thresholds.coldMaxS} s)`, measured: { seconds, p95S: p95.value, p99S: p99.value } };
}

/** 200, or what went wrong; connection refusals while the instance starts are waited out. */
async function firstAnswer(ctx: CheckContext, photo: Buffer, deadlineS: number): Promise<200 | string> {
  const until = Date.now() + deadlineS * 1000;
  for (;;) {
    try {
      const answer = await cutOutWhenReady(ctx, photo, deadlineS);
      return answer.status === 200 ? 200 : `the first cut-out answered ${answer.status}`;
    } catch (error) {
      if (Date.now() > until) return `no answer within ${deadlineS} s (${(error as Error).message})`;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
