import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRollout } from '../src/cli/rollout.js';
import type { RolloutFlags } from '../src/cli/rollout.js';
import { createCloudRunClient } from '../src/ops/cloudrun/rest.js';
import type { Service } from '../src/ops/cloudrun/types.js';
import { readState } from '../src/ops/rollout/state.js';
import type { RolloutState } from '../src/ops/rollout/state.js';
import { startCloudRunFake } from './support/cloudRunFake.js';
import type { CloudRunFake } from './support/cloudRunFake.js';
import { form, photo } from './support/app.js';
import { childEnv } from './support/env.js';
import { startPrometheus } from './support/prometheus.js';
import { until } from './support/wait.js';

/**
 * `petcut rollout` end to end (issue #16), fake only at the Google edge: the
 * Cloud Run Admin API v2 is a loopback server speaking its REST protocol
 * (support/cloudRunFake.ts) that runs one real petcut process per revision
 * and routes the service URL by the traffic split and each tag to its own
 * URL; a real Prometheus scrapes those processes (file_sd from the fake) and
 * the rollout's queries, from deploy/rollout.yml, run against it. Shoppers
 * are a real load of cut-outs on the service URL throughout. Windows are
 * compressed to seconds. (Named process.*: `npm test` runs it after the
 * rest, alone, because its watches are seconds of real work.)
 */
const ROOT = resolve('.');
const REF = { project: 'petcut-test', region: 'us-central1', service: 'petcut-production' } as const;
const digest = (c: string): string => `us-central1-docker.pkg.dev/petcut-test/petcut/petcut-cpu@sha256:${c.repeat(64)}`;
const IMAGES = {
  a: digest('a'), b: digest('b'), c: digest('c'), d: digest('d'), e: digest('e'), f: digest('f'),
  // A model file that is not there: the process never gets ready.
  broken: digest('0'),
  // Its storage cannot be written: the smoke test's session round trip fails.
  noStorage: digest('1'),
  // No queue: one photo at a time, anything beside it 503 PETCUT_E_OVERLOADED (5xx) once it takes real traffic.
  noQueue: digest('2'),
};

let fake: CloudRunFake;
let stopPrometheus: (() => void) | undefined;
let dir: string;
let promUrl: string;
let configFile: string;
let slowConfigFile: string;
let pauseConfigFile: string;
const client = () => createCloudRunClient({ baseUrl: fake.apiBase, token: () => Promise.resolve('test-token'), pollMs: 100 });

/** The run's record as it is now, polled by the shared `until` (a failed read is not there yet). */
const phaseIs = (phase: string) => () => state().then((st) => st?.phase === phase, () => false);

/** Shoppers: `workers` loops of cut-outs of small unique photos on the service URL, with what each got. */
function shoppers(workers: number) {
  let running = true;
  const statuses: number[] = [];
  let seed = 0;
  const loops = Array.from({ length: workers }, async (_, w) => {
    while (running) {
      const data = await photo(96, 72, 'jpeg', 1000 * w + seed++);
      const status = await fetch(`${fake.serviceUrl}/v1/cutouts`, { method: 'POST', body: form([{ data }]) })
        .then(async (r) => { await r.arrayBuffer(); return r.status; }, () => 0);
      statuses.push(status);
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
  });
  return {
    statuses,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

interface Run { readonly code: number; readonly outcome: Record<string, unknown>; readonly lines: string[] }

/** The CLI's own code path, in this process (env: the fake's API, the real Prometheus). */
async function rollout(action: 'start' | 'status' | 'abort' | 'promote', flags: Partial<RolloutFlags>): Promise<Run> {
  const json = join(dir, `outcome-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const lines: string[] = [];
  const code = await runRollout(action, { env: 'production', config: configFile, values: 'deploy/cloudrun', reason: 'test', ...REF, ...flags, json }, (line) => lines.push(line), env());
  const outcome = JSON.parse(await readFile(json, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  return { code, outcome, lines };
}

function env(): NodeJS.ProcessEnv {
  return { PETCUT_CLOUD_RUN_API: fake.apiBase, PETCUT_CLOUD_RUN_TOKEN: 'test-token', PETCUT_PROMETHEUS_URL: promUrl };
}

/** The CLI as its own process (to be killed, or to run beside another). */
function rolloutProcess(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['dist/cli/index.js', 'rollout', '--env', 'production', '--project', REF.project, '--region', REF.region, '--service', REF.service, ...args], {
    cwd: ROOT, env: childEnv(env() as Record<string, string>), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c) => (output += String(c)));
  child.stderr!.on('data', (c) => (output += String(c)));
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
  return { child, output: () => output, exited };
}

async function service(): Promise<Service> {
  return client().getService(REF);
}

async function state(): Promise<RolloutState | undefined> {
  return readState(await service());
}

const shares = (s: Service): Record<string, number> =>
  Object.fromEntries((s.trafficStatuses ?? []).filter((t) => t.percent).map((t) => [t.revision!, t.percent!]));
const tags = (s: Service): Record<string, string> =>
  Object.fromEntries((s.trafficStatuses ?? []).filter((t) => t.tag).map((t) => [t.tag!, t.revision!]));
const revisionNames = async (): Promise<string[]> => (await client().listRevisions(REF)).map((r) => r.name.split('/').pop()!).sort();

// The rollout file as plain YAML data, edited in place (its schema checks it when the rollout loads it).
interface RawConfig {
  ready_timeout: string;
  smoke: { timeout: string; ready_timeout: string };
  steps: Array<{ percent: number; watch: string }>;
  analysis: { interval: string; range: string; metrics: Array<{ for?: string }>; inconclusive: { min_requests: number; [key: string]: unknown } };
  cleanup: { keep_revisions: number };
}

async function writeConfig(name: string, change: (config: RawConfig) => void): Promise<string> {
  // The real file's queries and criteria, with its windows compressed to seconds.
  const config = parse(await readFile('deploy/rollout.yml', 'utf8')) as RawConfig;
  config.ready_timeout = '45s';
  config.smoke = { timeout: '60s', ready_timeout: '30s' };
  config.steps = [{ percent: 10, watch: '5s' }, { percent: 50, watch: '8s' }, { percent: 100, watch: '3s' }];
  config.analysis.interval = '1s';
  config.analysis.range = '10s';
  for (const metric of config.analysis.metrics) if (metric.for) metric.for = '2s';
  config.analysis.inconclusive = { ...config.analysis.inconclusive, min_requests: 1, action: 'extend', max_extensions: 1, then: 'pause' };
  config.cleanup.keep_revisions = 2;
  change(config);
  const file = join(dir, name);
  await writeFile(file, stringify(config));
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-rollout-'));
  fake = await startCloudRunFake({
    dataDir: join(dir, 'data'),
    readyTimeoutMs: 90_000,
    baseEnv: { PETCUT_LOG_LEVEL: 'warn', PETCUT_COST_LEDGER: 'off', PETCUT_CONCURRENCY: '1', PETCUT_QUEUE_MAX: '16', PETCUT_ADMISSION_DEADLINE_S: '0', PETCUT_RATE_LIMIT_IP_PER_MIN: '100000', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '100000', PETCUT_RATE_LIMIT_BURST: '1000' },
  });
  for (const image of [IMAGES.a, IMAGES.b, IMAGES.c, IMAGES.d, IMAGES.e, IMAGES.f]) fake.images.set(image, {});
  fake.images.set(IMAGES.broken, { env: { PETCUT_MODEL: join(dir, 'no-such-model.onnx') } });
  fake.images.set(IMAGES.noStorage, { env: { PETCUT_DATA_DIR: '/proc/petcut-cannot-write-here' } });
  fake.images.set(IMAGES.noQueue, { env: { PETCUT_QUEUE_MAX: '0' } });
  configFile = await writeConfig('rollout.yml', () => undefined);
  slowConfigFile = await writeConfig('slow.yml', (c) => (c.steps = [{ percent: 10, watch: '120s' }, { percent: 100, watch: '3s' }]));
  pauseConfigFile = await writeConfig('pause.yml', (c) => (c.analysis.inconclusive.min_requests = 1_000_000));
  const server = await startPrometheus(dir, join(dir, 'tsdb'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    'scrape_configs:',
    `  - { job_name: petcut, file_sd_configs: [{ files: ["${fake.targetsFile}"], refresh_interval: 1s }] }`,
  ].join('\n'));
  promUrl = server.url;
  stopPrometheus = server.stop;
  await fake.createService(REF, { revision: `${REF.service}-a`, containers: [{ name: 'petcut', image: IMAGES.a }] });
}, 180_000);

afterAll(async () => {
  stopPrometheus?.();
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('petcut rollout against Cloud Run (fake API, real revisions) and a real Prometheus', () => {
  it('a healthy candidate goes 10 % -> 50 % -> 100 %, watched, and the old revision is kept untagged', async () => {
    const load = shoppers(2);
    const run = await rollout('start', { image: IMAGES.b, revisionSuffix: 'b', now: true });
    await load.stop();
    expect(run.code, run.lines.join('\n')).toBe(0);
    expect(run.outcome).toMatchObject({ result: 'promoted' });
    const after = await service();
    expect(shares(after)).toEqual({ 'petcut-production-b': 100 });
    expect(tags(after)).toEqual({});
    expect(await revisionNames()).toEqual(['petcut-production-a', 'petcut-production-b']);
    const timeline = run.lines.join('\n');
    for (const step of ['step 1/3: petcut-production-a 90%, petcut-production-b 10%', 'step 2/3: petcut-production-a 50%, petcut-production-b 50%', 'step 3/3: petcut-production-b 100%', 'smoke test passed', 'promoted']) {
      expect(timeline).toContain(step);
    }
    // Measured per revision: the candidate's own numbers beside the baseline's.
    expect(timeline).toMatch(/10%: error-rate 0 \(baseline 0/);
    expect(load.statuses.filter((s) => s >= 500)).toEqual([]);
    expect(fake.servedBy.get('petcut-production-b')).toBeGreaterThan(0);
    const { activeMs, waitedMs } = run.outcome as { activeMs: number; waitedMs: number };
    expect(waitedMs).toBeGreaterThanOrEqual(16_000);
    expect(activeMs).toBeLessThan(15 * 60_000);
    console.log(`healthy rollout: ${(activeMs / 1000).toFixed(1)} s of deployment work, ${(waitedMs / 1000).toFixed(1)} s of watching\n${timeline}`);
    expect((await state())?.phase).toBe('done');
  }, 240_000);

  it('a candidate that never gets ready is a failed candidate: its revision deleted, customers never sent to it', async () => {
    const run = await rollout('start', { image: IMAGES.broken, revisionSuffix: 'broken', now: true });
    expect(run.code, run.lines.join('\n')).toBe(1);
    expect(run.outcome).toMatchObject({ result: 'failed' });
    expect(String(run.outcome.message)).toMatch(/not ready/);
    expect(shares(await service())).toEqual({ 'petcut-production-b': 100 });
    expect(await revisionNames()).not.toContain('petcut-production-broken');
    expect(fake.servedBy.get('petcut-production-broken') ?? 0).toBe(0);
    expect((await state())?.phase).toBe('failed');
  }, 180_000);

  it('a candidate that cannot write storage fails its smoke test on the tag URL: removed, nothing changed for customers', async () => {
    const before = fake.servedBy.get('petcut-production-b') ?? 0;
    const load = shoppers(1);
    const run = await rollout('start', { image: IMAGES.noStorage, revisionSuffix: 'nostorage', now: true });
    await load.stop();
    expect(run.code, run.lines.join('\n')).toBe(1);
    expect(String(run.outcome.message)).toMatch(/smoke test failed: .*storage/);
    expect(shares(await service())).toEqual({ 'petcut-production-b': 100 });
    expect(tags(await service())).toEqual({});
    expect(await revisionNames()).not.toContain('petcut-production-nostorage');
    // Every shopper's request went to the old revision.
    expect(load.statuses.every((s) => s === 200)).toBe(true);
    expect((fake.servedBy.get('petcut-production-b') ?? 0) - before).toBeGreaterThanOrEqual(load.statuses.length);
  }, 180_000);

  it('a candidate that sheds real traffic passes 10 %, fails a later watch on the error rate, and every request goes back in one change', async () => {
    const load = shoppers(4);
    const run = await rollout('start', { image: IMAGES.noQueue, revisionSuffix: 'noqueue', now: true });
    await load.stop();
    expect(run.code, run.lines.join('\n')).toBe(1);
    expect(run.outcome).toMatchObject({ result: 'rolled-back' });
    expect(String(run.outcome.message)).toMatch(/error-rate/);
    const timeline = run.lines.join('\n');
    // 1 in 10 requests never meets another on the candidate: 10 % passes. From 50 % on they collide and it sheds.
    expect(timeline).toContain('step 1 passed');
    expect(timeline).toContain('step 2/3');
    expect(timeline).not.toContain('promoted');
    expect(shares(await service())).toEqual({ 'petcut-production-b': 100 });
    expect(tags(await service())).toEqual({});
    const rollbackMs = run.outcome.rollbackMs as number;
    expect(rollbackMs).toBeLessThan(10_000);
    console.log(`rollback: ${(rollbackMs / 1000).toFixed(2)} s from the failing measurement to 100 % on the old revision`);
    const after = await state();
    expect(after?.phase).toBe('rolled-back');
    expect([50, 100]).toContain(after?.percent);
  }, 240_000);

  it('a second rollout is refused while one runs; a killed run resumes at its step and finishes', async () => {
    const load = shoppers(2);
    const first = rolloutProcess(['--image', IMAGES.c, '--revision-suffix', 'c', '--now', '--config', slowConfigFile]);
    await until(phaseIs('watching'), 'the first rollout to watch its 10 % step', 180_000, 200);
    const second = await rollout('start', { image: IMAGES.d, revisionSuffix: 'd', now: true });
    expect(second.code).toBe(5);
    expect(second.lines.join('\n')).toMatch(/petcut-production-c .* is watching at 10%.*--resume/);
    first.child.kill('SIGKILL');
    await first.exited;
    const held = await state();
    expect(held).toMatchObject({ phase: 'watching', percent: 10, step: 0 });
    // Resumed with the shorter windows: the same step, its traffic not moved again.
    const resumed = await rollout('start', { resume: true, config: configFile });
    await load.stop();
    expect(resumed.code, resumed.lines.join('\n')).toBe(0);
    const timeline = resumed.lines.join('\n');
    expect(timeline).toContain('resumed by');
    expect(timeline).not.toContain('step 1/3');
    expect(timeline).toContain('step 2/3');
    expect(shares(await service())).toEqual({ 'petcut-production-c': 100 });
    // Clean-up keeps two: the new one and the previous one.
    expect(await revisionNames()).toEqual(['petcut-production-b', 'petcut-production-c']);
  }, 300_000);

  it('an inconclusive watch (too few requests) is extended, then pauses for a person; promote finishes it', async () => {
    const run = await rollout('start', { image: IMAGES.e, revisionSuffix: 'e', now: true, config: pauseConfigFile });
    expect(run.code, run.lines.join('\n')).toBe(4);
    const timeline = run.lines.join('\n');
    expect(timeline).toContain('extension 1 of 1');
    expect(timeline).toContain('PAUSED');
    expect(shares(await service())).toEqual({ 'petcut-production-c': 90, 'petcut-production-e': 10 });
    const promoted = await rollout('promote', { config: pauseConfigFile });
    expect(promoted.code, promoted.lines.join('\n')).toBe(0);
    expect(shares(await service())).toEqual({ 'petcut-production-e': 100 });
    expect((await state())?.phase).toBe('done');
  }, 240_000);

  it('abort from another process puts every request back and the running rollout stops', async () => {
    const running = rolloutProcess(['--image', IMAGES.f, '--revision-suffix', 'f', '--now', '--config', slowConfigFile]);
    await until(phaseIs('watching'), 'the rollout to watch its 10 % step', 180_000, 200);
    const abort = await rollout('abort', { reason: 'checkout errors' });
    expect(abort.code, abort.lines.join('\n')).toBe(0);
    expect(shares(await service())).toEqual({ 'petcut-production-e': 100 });
    expect(await running.exited).toBe(1);
    expect(running.output()).toMatch(/aborted: checkout errors/);
    const status = await rollout('status', {});
    expect(status.code).toBe(0);
    expect((await state())).toMatchObject({ phase: 'aborted' });
  }, 240_000);
});

describe('petcut rollout --dry-run', () => {
  it('reads for real, prints every change and query it would make, and sends no change', async () => {
    const before = fake.requests.length;
    const run = await rollout('start', { image: IMAGES.d, revisionSuffix: 'dry', now: true, dryRun: true });
    expect(run.code, run.lines.join('\n')).toBe(0);
    const printed = run.lines.join('\n');
    expect(printed).toMatch(/PATCH \/v2\/projects\/petcut-test\/locations\/us-central1\/services\/petcut-production \(etag \S+\): template\.revision=petcut-production-dry/);
    expect(printed).toContain('petcut-production-dry 10% (step 1)');
    expect(printed).toMatch(/query sum\(rate\(petcut_http_requests_total\{revision="petcut-production-dry",status=~"5\.\."\}\[10s\]\)\)/);
    expect(printed).toContain('on a failed measurement: PATCH');
    const sent = fake.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.filter((r) => !r.startsWith('GET '))).toEqual([]);
    expect(await revisionNames()).not.toContain('petcut-production-dry');
  });
});
