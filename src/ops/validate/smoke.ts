import { inspectImage } from '../../image/decode.js';
import { createClient, describeNetworkError, isImage, jpegBody } from './client.js';
import type { Answer, Client } from './client.js';
import { storageCheck } from './checks/storage.js';
import { createPhotoMaker, PHOTO_SIZES } from './photos.js';
import type { PhotoMaker } from './photos.js';

/**
 * `petcut validate <url> --smoke`: the quick subset the rollout runs on a
 * candidate revision's tag URL before it takes traffic (docs/validate.md,
 * "Smoke subset"). Five steps, in order; a failed step does not stop the
 * next ones, except readiness: a revision that never turns ready fails the
 * rest as "not ready".
 */
export const SMOKE_STEP_IDS = ['readiness', 'cutout', 'effects', 'storage', 'metrics'] as const;
export type SmokeStepId = (typeof SMOKE_STEP_IDS)[number];

export interface SmokeOptions {
  url: string;
  /** Longest wait for one answer. */
  timeoutS: number;
  /** How long /readyz is polled for a 200. */
  readyTimeoutS: number;
  /** Every petcut_ sample of /metrics must carry revision="<this>" (the candidate's K_REVISION). */
  expectRevision?: string;
  /** From the environment only (PETCUT_VALIDATE_OPERATOR_KEY, PETCUT_VALIDATE_TOKEN), never argv. */
  operatorKey?: string;
  token?: string;
  photos?: string;
  /** The shop, as `petcut validate --shop` takes it (no smoke step calls a shop's origin yet). */
  shop: string;
}

export interface SmokeStep {
  id: SmokeStepId;
  status: 'pass' | 'fail';
  detail: string;
  seconds: number;
}

export interface SmokeReport {
  url: string;
  passed: boolean;
  steps: SmokeStep[];
  /** Set when /readyz gave not one HTTP answer in the whole window (the CLI's exit 3: the revision never came up). */
  unreachable?: true;
}

type Outcome = Pick<SmokeStep, 'status' | 'detail'> & { unreachable?: true };
interface SmokeContext { readonly client: Client; readonly photos: PhotoMaker; readonly options: SmokeOptions }

const READY_POLL_MS = 500;
const pass = (detail: string): Outcome => ({ status: 'pass', detail });
const fail = (detail: string): Outcome => ({ status: 'fail', detail });
const answered = (answer: Answer): string => `${answer.status}: ${answer.body.toString('utf8').slice(0, 160)}`;

/** Polls /readyz until 200 (each poll waits at most --timeout-s, and no longer than the window). */
async function readiness({ client, options }: SmokeContext): Promise<Outcome> {
  const started = Date.now();
  const until = started + options.readyTimeoutS * 1000;
  let last: string | undefined;
  let polls = 0;
  for (;;) {
    polls++;
    const waitS = Math.max(1, Math.min(options.timeoutS, (until - Date.now()) / 1000));
    const status = await client.send('/readyz', { credential: 'none', timeoutS: waitS }).then((a) => a.status, (error: unknown) => describeNetworkError(error));
    if (status === 200) return pass(`/readyz 200 after ${((Date.now() - started) / 1000).toFixed(1)} s (${polls} polls)`);
    if (typeof status === 'number') last = String(status);
    if (Date.now() + READY_POLL_MS > until) break;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  if (last === undefined) {
    return { status: 'fail', unreachable: true, detail: `cannot reach ${client.base}/readyz within ${options.readyTimeoutS} s (${polls} polls): check the URL, that the revision is deployed and listening, and that this machine may call it (a tag URL of a service without --allow-unauthenticated needs an identity token in front)` };
  }
  return fail(`/readyz never answered 200 within ${options.readyTimeoutS} s (${polls} polls, last ${last})`);
}

/** A cut-out answer as the API promises it: a PNG with an alpha channel, the photo's size. */
async function pngProblem(answer: Answer, width: number, height: number): Promise<string | undefined> {
  if (answer.status !== 200) return `answered ${answered(answer)}`;
  if (!isImage(answer.body)) return `a 200 of ${answer.headers.get('content-type') ?? 'no type'} that is not an image`;
  const header = await inspectImage(answer.body, { maxPixels: 1e8 });
  if (header.format !== 'png') return `a ${header.format}, not the default PNG`;
  if (!header.hasAlpha) return 'a PNG without an alpha channel: the background was not removed';
  if (header.width !== width || header.height !== height) return `${header.width}x${header.height}, the photo was ${width}x${height}`;
  return undefined;
}

async function cutout({ client, photos }: SmokeContext): Promise<Outcome> {
  const { width, height } = PHOTO_SIZES.preview;
  const answer = await client.send('/v1/cutouts', jpegBody(await photos.next('preview')));
  const problem = await pngProblem(answer, width, height);
  if (problem) return fail(`POST /v1/cutouts: ${problem}`);
  return pass(`a ${width}x${height} pet photo cut out in ${(answer.ms / 1000).toFixed(2)} s: PNG with alpha, ${answer.body.length} bytes, X-Cache ${answer.headers.get('x-cache') ?? 'none'}`);
}

/** GET /v1/effects lists the styles; one cut-out in a style other than the default (`color`, the cut-out step's). */
async function effects({ client, photos }: SmokeContext): Promise<Outcome> {
  const listed = await client.send('/v1/effects', { credential: 'none' });
  if (listed.status !== 200) return fail(`GET /v1/effects ${answered(listed)}`);
  const names = ((JSON.parse(listed.body.toString('utf8')) as { effects?: Array<{ name?: unknown }> }).effects ?? [])
    .map((effect) => effect.name).filter((name): name is string => typeof name === 'string');
  const effect = names.find((name) => name !== 'color') ?? names[0];
  if (effect === undefined) return fail('GET /v1/effects lists no effect');
  const { width, height } = PHOTO_SIZES.preview;
  const answer = await client.send(`/v1/cutouts?effects=${encodeURIComponent(effect)}`, jpegBody(await photos.next('preview')));
  const problem = await pngProblem(answer, width, height);
  if (problem) return fail(`POST /v1/cutouts?effects=${effect}: ${problem}`);
  if (answer.headers.get('x-effect') !== effect) return fail(`POST /v1/cutouts?effects=${effect}: X-Effect is ${answer.headers.get('x-effect') ?? 'missing'}`);
  return pass(`${names.length} effects listed; ${effect} applied (${(answer.ms / 1000).toFixed(2)} s, PNG with alpha)`);
}

async function storage({ client, photos }: SmokeContext): Promise<Outcome> {
  const result = await storageCheck({ client, photos });
  return { status: result.status === 'pass' ? 'pass' : 'fail', detail: result.detail };
}

/** /metrics is Prometheus text with the request counter; with --expect-revision every petcut_ sample carries it. */
async function metrics({ client, options }: SmokeContext): Promise<Outcome> {
  const answer = await client.send('/metrics', { credential: 'operator' });
  if (answer.status !== 200) return fail(`/metrics answered ${answer.status} (set PETCUT_VALIDATE_OPERATOR_KEY, or run where the scraper's addresses are allowed)`);
  if (!/^text\/plain/.test(answer.headers.get('content-type') ?? '')) return fail(`/metrics answered ${answer.headers.get('content-type') ?? 'no content type'}, not Prometheus text`);
  const samples = answer.body.toString('utf8').split('\n').filter((line) => line.startsWith('petcut_'));
  if (!samples.some((line) => /^petcut_http_requests_total[{ ]/.test(line))) return fail(`/metrics has no petcut_http_requests_total sample (${samples.length} petcut_ samples)`);
  if (options.expectRevision === undefined) return pass(`${samples.length} petcut_ samples, petcut_http_requests_total among them`);
  const revisions = samples.map((line) => /^[^{ ]+\{(?:[^}]*,)?revision="([^"]*)"/.exec(line)?.[1] ?? '(none)');
  const wrong = revisions.filter((revision) => revision !== options.expectRevision);
  if (wrong.length > 0) {
    const seen = [...new Set(wrong)].slice(0, 3).join(', ');
    return fail(`${wrong.length} of ${samples.length} petcut_ samples do not carry revision="${options.expectRevision}" (they carry ${seen}): is this the candidate's URL, and does Cloud Run set K_REVISION there?`);
  }
  return pass(`all ${samples.length} petcut_ samples carry revision="${options.expectRevision}"`);
}

const STEPS: Readonly<Record<SmokeStepId, (ctx: SmokeContext) => Promise<Outcome>>> = { readiness, cutout, effects, storage, metrics };

/** Runs the five steps in order, a line of progress each; never throws for a failed step, nor for an unreachable target. */
export async function runSmoke(options: SmokeOptions, progress: (line: string) => void): Promise<SmokeReport> {
  const client = createClient(options.url, options, options.timeoutS);
  const photos = await createPhotoMaker(options.photos);
  const ctx: SmokeContext = { client, photos, options };
  const steps: SmokeStep[] = [];
  let unreachable = false;
  for (const id of SMOKE_STEP_IDS) {
    if (id !== 'readiness' && steps[0]?.status !== 'pass') {
      steps.push({ id, status: 'fail', detail: 'not ready', seconds: 0 });
      continue;
    }
    progress(`${id}: running`);
    const started = performance.now();
    const { unreachable: never, ...outcome } = await STEPS[id](ctx).catch((error: unknown): Outcome => fail(`stopped: ${describeNetworkError(error)}`));
    unreachable ||= never === true;
    const step = { id, ...outcome, seconds: Math.round(performance.now() - started) / 1000 };
    steps.push(step);
    progress(`${id}: ${step.status} (${step.seconds} s)`);
  }
  const report: SmokeReport = { url: client.base, passed: steps.every((step) => step.status === 'pass'), steps };
  return unreachable ? { ...report, unreachable: true } : report;
}

export function formatSmokeReport(report: SmokeReport): string {
  const lines = report.steps.map((step) => `${step.status.toUpperCase().padEnd(5)} ${step.id.padEnd(9)} ${step.detail}`);
  lines.push(`smoke ${report.url}: ${report.steps.filter((s) => s.status === 'pass').length}/${report.steps.length} steps passed: ${report.passed ? 'PASS' : 'FAIL'}`);
  return `${lines.join('\n')}\n`;
}
