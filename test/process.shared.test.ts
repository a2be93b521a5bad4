import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { form, photo, Probe, sniff } from './support/app.js';
import type { JobView, Message } from './support/app.js';
import { childEnv } from './support/env.js';
import { freePort, startRedisServer } from './support/redis.js';
import type { RedisServer } from './support/redis.js';
import { until } from './support/wait.js';

/**
 * (Named process.*: run alone after the other files.) Issue #17 part 4: two
 * real petcut processes (dist/main.js) on one local data directory (the
 * shared store) and one real Redis of this file's own (it is killed): a job
 * taken by A is answered by B, polls and socket; the legacy storefront flow
 * with the socket on A and the POST on B; Redis killed mid-job, then back.
 */
const root = new URL('..', import.meta.url).pathname;

interface Instance { readonly name: string; readonly child: ChildProcess; readonly base: string; output(): string }

async function startInstance(name: string, env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv({ PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_LOG_LEVEL: 'info', PETCUT_COST_LEDGER: 'off', PETCUT_CONCURRENCY: '2', ...env }),
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const base = `http://127.0.0.1:${port}`;
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${output.slice(-2000)}`);
    return fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
  }, `${name} ready`, 90_000, 100);
  return { name, child, base, output: () => output };
}

let redis: RedisServer;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  redis = await startRedisServer();
  const dir = await mkdtemp(join(tmpdir(), 'petcut-shared-'));
  // The limiter (shared through the same Redis) is not what this file is about: polls every 50 ms would exceed it.
  const env = { PETCUT_DATA_DIR: dir, REDIS_URL: redis.url, PETCUT_REDIS_TIMEOUT_MS: '500', PETCUT_RATE_LIMIT_IP_PER_MIN: '0', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '0' };
  [a, b] = await Promise.all([startInstance('A', env), startInstance('B', env)]);
}, 120_000);

afterAll(async () => {
  for (const instance of [a, b]) instance?.child.kill('SIGKILL');
  await redis?.close();
});

async function postJob(instance: Instance, files: number, session: string, size = 320): Promise<JobView> {
  const photos = await Promise.all(Array.from({ length: files }, (_, i) => photo(size, size * 0.75, 'jpeg', i * 9)));
  const response = await fetch(`${instance.base}/v1/jobs`, { method: 'POST', body: form(photos.map((data) => ({ data }))), headers: { 'x-session-id': session } });
  expect(response.status).toBe(202);
  return (await response.json()) as JobView;
}

async function poll(instance: Instance, id: string): Promise<{ status: number; job?: JobView; code?: string }> {
  const response = await fetch(`${instance.base}/v1/jobs/${id}`);
  const body = (await response.json()) as JobView & { error?: { code: string } };
  return response.status === 200 ? { status: 200, job: body } : { status: response.status, code: body.error?.code };
}

async function finishedOn(instance: Instance, id: string): Promise<JobView> {
  let job: JobView | undefined;
  await until(async () => {
    const answer = await poll(instance, id);
    expect(answer.status, `${instance.name} polls ${id}`).toBe(200);
    job = answer.job;
    return job!.status === 'succeeded' || job!.status === 'failed';
  }, `job ${id} finished on ${instance.name}`, 90_000, 50);
  return job!;
}

async function metric(instance: Instance, name: string): Promise<number> {
  const text = await (await fetch(`${instance.base}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(name) && !line.startsWith('#'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

async function jobsState(instance: Instance): Promise<string> {
  return ((await (await fetch(`${instance.base}/health`)).json()) as { jobs: { state: string } }).jobs.state;
}

const percents = (messages: readonly Message[]): number[] => messages.filter((m) => m.type === 'stage').map((m) => m.percent as number);

describe('two instances and one Redis behave as one', () => {
  it('a job posted to A is followed to completion from B, over the WebSocket and by polling, and its result fetched from B', async () => {
    const session = 'shared-session-ab';
    const posted = await postJob(a, 2, session);
    const socket = new Probe(`${b.base.replace('http', 'ws')}/v1/jobs/${posted.id}/events`);
    await socket.opened;
    const polled = await finishedOn(b, posted.id);
    await socket.closed;
    const [first, ...rest] = socket.messages;
    expect(first?.type).toBe('state');
    expect((first as unknown as { job: JobView }).job.id).toBe(posted.id);
    // Every later stage, in order, and the one 'complete' last (with the finished job).
    expect(rest.length, JSON.stringify(socket.messages.map((m) => m.type))).toBeGreaterThan(1);
    expect(rest.filter((m) => m.type === 'complete')).toHaveLength(1);
    const complete = rest.at(-1)!;
    expect(complete).toMatchObject({ type: 'complete', jobId: posted.id, status: 'succeeded', succeeded: 2, failed: 0 });
    const seen = percents(rest);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
    expect(socket.closeCode).toBe(1000);

    expect(polled.status).toBe('succeeded');
    expect(polled.files.map((f) => f.status)).toEqual(['succeeded', 'succeeded']);
    // The same record on the owner (A): same images.
    const owner = await finishedOn(a, posted.id);
    const ids = (job: JobView): string[] => job.files.flatMap((f) => (f.results ?? []).map((r) => r.url.split('/').pop()!));
    expect(ids(polled)).toEqual(ids(owner));
    expect(ids((complete as unknown as { job: JobView }).job)).toEqual(ids(owner));
    // B built the result URL and serves the bytes from the shared store.
    const url = polled.files[0]!.results![0]!.url;
    expect(url.startsWith(b.base)).toBe(true);
    const image = await fetch(url, { headers: { 'x-session-id': session } });
    expect(image.status).toBe(200);
    expect(sniff(Buffer.from(await image.arrayBuffer()))).toBe('png');
    // An unknown job is the usual 404 everywhere.
    expect(await poll(b, '00000000-0000-4000-8000-000000000000')).toEqual({ status: 404, code: 'PETCUT_E_JOB_NOT_FOUND' });
  });

  it('the legacy storefront flow: the progress socket on A hears every stage and the summary of a POST sent to B', async () => {
    const session = 'legacy-shared-1';
    const socket = new Probe(`${a.base.replace('http', 'ws')}/ws/progress/${session}`);
    await socket.opened;
    await socket.next((m) => m.type === 'connected');
    const response = await fetch(`${b.base}/api/v2/process-with-effects?effects=color,pencilsketch&session_id=${session}`, { method: 'POST', body: form([{ data: await photo(240, 180), field: 'file' }]) });
    expect(response.status).toBe(200);
    const summary = await socket.next((m) => m.type === 'completion_summary');
    expect(summary).toMatchObject({ session_id: session, effects: ['color', 'pencilsketch'] });
    const stages = socket.messages.filter((m) => m.type === 'stage_progress');
    expect(stages.map((m) => m.stage)).toEqual(expect.arrayContaining(['decode', 'segmentation', 'refine', 'effect', 'encode']));
    const progress = stages.map((m) => m.progress as number);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    // Nothing after the summary, and each message once.
    expect(socket.messages.at(-1)?.type).toBe('completion_summary');
    expect(socket.messages.filter((m) => m.type === 'completion_summary')).toHaveLength(1);
    socket.close();
  });

  it('Redis killed mid-job: the job completes, the owner answers polls and sockets, B says 404, one warning, the metric moved; back again, jobs are shared', async () => {
    const errorsBefore = await metric(a, 'petcut_shared_state_errors_total');
    expect(await jobsState(a)).toBe('shared');
    expect(await metric(a, 'petcut_shared_state_up')).toBe(1);
    // Three 480 x 360 photos: seconds of work, so Redis goes while the job runs.
    const posted = await postJob(a, 3, 'shared-outage-1', 480);
    await until(async () => (await poll(a, posted.id)).job?.status === 'running', 'the job running', 60_000, 20);
    // A socket on B following A's job through Redis: told to come back (1013) when Redis goes.
    const remote = new Probe(`${b.base.replace('http', 'ws')}/v1/jobs/${posted.id}/events`);
    await remote.opened;
    await remote.next((m) => m.type === 'state');
    const logBefore = a.output().length;
    await redis.kill();
    expect((await poll(a, posted.id)).job?.status).toBe('running');
    // The owner answers from its memory throughout: never a 5xx.
    const socket = new Probe(`${a.base.replace('http', 'ws')}/v1/jobs/${posted.id}/events`);
    await socket.opened;
    const finished = await finishedOn(a, posted.id);
    expect(finished.status).toBe('succeeded');
    await socket.closed;
    expect(socket.messages[0]?.type).toBe('state');
    expect(socket.messages.at(-1)).toMatchObject({ type: 'complete', status: 'succeeded' });
    expect(await remote.closed).toBe(1013);
    expect(remote.messages.filter((m) => m.type === 'complete')).toEqual([]);
    // Another instance cannot know the job without Redis: the usual 404, not a 5xx.
    expect(await poll(b, posted.id)).toEqual({ status: 404, code: 'PETCUT_E_JOB_NOT_FOUND' });
    expect(await metric(a, 'petcut_shared_state_up')).toBe(0);
    expect(await jobsState(a)).toBe('local-fallback');
    expect(await metric(a, 'petcut_shared_state_errors_total')).toBeGreaterThan(errorsBefore);
    // One warning per outage, not one per event.
    expect(a.output().slice(logBefore).split('shared job state: Redis unavailable').length - 1, a.output().split('\n').filter((l) => l.includes('shared job state')).join('\n')).toBe(1);
    for (const instance of [a, b]) expect(instance.child.exitCode, instance.name).toBeNull();

    await redis.restart();
    await until(async () => (await metric(a, 'petcut_shared_state_up')) === 1 && (await metric(b, 'petcut_shared_state_up')) === 1, 'both instances see Redis again', 30_000, 100);
    expect(a.output()).toMatch(/shared job state: Redis answers again/);
    expect(await jobsState(b)).toBe('shared');
    const after = await postJob(a, 1, 'shared-outage-2');
    const followed = new Probe(`${b.base.replace('http', 'ws')}/v1/jobs/${after.id}/events`);
    await followed.opened;
    expect((await finishedOn(b, after.id)).status).toBe('succeeded');
    await followed.closed;
    expect(followed.messages.at(-1)).toMatchObject({ type: 'complete', jobId: after.id, status: 'succeeded' });
    for (const instance of [a, b]) expect(instance.child.exitCode, instance.name).toBeNull();
  });
});
