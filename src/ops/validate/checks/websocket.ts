import type { CheckContext, CheckResult } from '../types.js';
import { openProbe } from './socket.js';
import type { Message, Probe } from './socket.js';
import { validationSessionId } from './storage.js';

/** The job stages in the order the server sends them (docs/http-api.md, "Jobs with live progress"). */
export const STAGES = ['queued', 'cache', 'decode', 'segmentation', 'refine', 'effect', 'encode', 'store'];
const TERMINAL = new Set(['succeeded', 'failed', 'partial']);

function outOfOrder(messages: readonly Message[], type: string): string | undefined {
  const seen = messages.filter((m) => m.type === type).map((m) => String(m.stage));
  const known = seen.filter((stage) => STAGES.includes(stage)).map((stage) => STAGES.indexOf(stage));
  const back = known.findIndex((index, i) => i > 0 && index < known[i - 1]!);
  return back !== -1 ? `stages out of order: ${seen.join(' > ')}` : undefined;
}

async function startJob(ctx: CheckContext): Promise<string> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(await ctx.photos.next(ctx.options.size))], { type: 'image/jpeg' }), 'pet.jpg');
  const answer = await ctx.client.send('/v1/jobs?size=preview', { method: 'POST', body: form });
  if (answer.status !== 202) throw new Error(`POST /v1/jobs answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 160)}`);
  return (JSON.parse(answer.body.toString('utf8')) as { id: string }).id;
}

const isEnd = (m: Message): boolean => m.type === 'complete' || (m.type === 'state' && TERMINAL.has(String((m.job as { status?: string } | undefined)?.status)));

/** A job's socket: open through the job, a pong for a ping, stages in order, the end seen. */
async function jobSocket(ctx: CheckContext, waitMs: number): Promise<string> {
  const id = await startJob(ctx);
  const probe = await openProbe(ctx.client.wsUrl(`/v1/jobs/${id}/events`), waitMs);
  probe.send({ type: 'ping' });
  // A pong, unless the job ended (and the server closed) first: a preview photo can finish that fast.
  const answered = await probe.waitFor((m) => m.type === 'pong' || isEnd(m), waitMs);
  await probe.waitFor(isEnd, waitMs);
  const order = outOfOrder(probe.messages, 'stage');
  if (order) throw new Error(`job ${id}: ${order}`);
  const stages = probe.messages.filter((m) => m.type === 'stage').map((m) => m.stage);
  const pong = answered.type === 'pong' ? 'pong' : 'no pong (the job ended first)';
  return `job socket: ${stages.length} stages in order (${[...new Set(stages)].join(', ')}), ${pong}, complete`;
}

/** A dropped job socket reconnects and still sees the end: the state message replays it. */
async function reconnect(ctx: CheckContext, waitMs: number): Promise<string> {
  const id = await startJob(ctx);
  const url = ctx.client.wsUrl(`/v1/jobs/${id}/events`);
  const first = await openProbe(url, waitMs);
  await first.waitFor((m) => m.type === 'state' || m.type === 'stage', waitMs);
  first.drop();
  const second = await openProbe(url, waitMs);
  const state = await second.waitFor((m) => m.type === 'state', waitMs);
  if (second.messages[0] !== state) throw new Error('the reconnected socket did not start with the state message');
  await second.waitFor(isEnd, waitMs);
  second.close();
  return 'dropped and reconnected: state replayed, end seen';
}

/** The first version's socket: stays open through a process-with-effects call and `--ws-seconds` of pings. */
async function legacySocket(ctx: CheckContext, waitMs: number): Promise<string> {
  const session = validationSessionId();
  const probe: Probe = await openProbe(ctx.client.wsUrl(`/ws/progress/${session}`), waitMs);
  await probe.waitFor((m) => m.type === 'connected', waitMs);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(await ctx.photos.next(ctx.options.size))], { type: 'image/jpeg' }), 'pet.jpg');
  const answer = await ctx.client.send(`/api/v2/process-with-effects?session_id=${session}`, { method: 'POST', body: form });
  if (answer.status !== 200) throw new Error(`process-with-effects answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 160)}`);
  await probe.waitFor((m) => m.type === 'completion_summary', waitMs);
  const order = outOfOrder(probe.messages, 'stage_progress');
  if (order) throw new Error(`/ws/progress: ${order}`);
  const until = Date.now() + ctx.options.wsSeconds * 1000;
  let pongs = 0;
  while (Date.now() < until) {
    const from = probe.messages.length;
    probe.send({ type: 'ping' });
    await probe.waitFor((m) => m.type === 'pong', waitMs, from);
    pongs++;
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Math.max(0, until - Date.now()))));
  }
  if (!probe.isOpen()) throw new Error(`/ws/progress closed after ${pongs} pongs`);
  probe.close();
  return `/ws/progress: stages in order, completion_summary, open ${ctx.options.wsSeconds} s with ${pongs} pongs`;
}

export async function websocketCheck(ctx: CheckContext): Promise<CheckResult> {
  const waitMs = ctx.options.timeoutS * 1000;
  const parts: string[] = [];
  for (const [name, step] of [['job socket', jobSocket], ['reconnect', reconnect], ['/ws/progress', legacySocket]] as const) {
    try {
      parts.push(await step(ctx, waitMs));
      ctx.progress(`websocket: ${name} ok`);
    } catch (error) {
      return { status: 'fail', detail: `${name}: ${(error as Error).message}`, measured: { passed: parts } };
    }
  }
  const minutes = ctx.options.wsSeconds < 120 ? ` (the plan's "minutes" of stability need --ws-seconds 300 or more)` : '';
  return { status: 'pass', detail: `${parts.join('; ')}${minutes}`, measured: { wsSeconds: ctx.options.wsSeconds } };
}
