import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv } from './support/env.js';

/**
 * `petcut validate` against real petcut processes (dist/main.js, as
 * test/main.test.ts runs it): one healthy, and one per real fault (storage
 * that cannot be written, a one-slot service with no queue, CORS without the
 * shop). Small photos (--size preview) and scaled-down load keep it short;
 * how fast the cut-outs are is the bench's business, so the warm check's
 * verdict is read, not asserted. The time limits are generous: on a 2-core
 * AVX2-only CI machine one 1024 px inference takes ~7 s, and the healthy run
 * (warm, memory, sockets, a burst) took 82 s alone and over 120 s beside the
 * rest of the suite.
 */
const main = new URL('../dist/main.js', import.meta.url).pathname;
const cli = new URL('../dist/cli/index.js', import.meta.url).pathname;

interface Service { child: ChildProcess; base: string; output: () => string }
const services: Service[] = [];

async function startService(env: Record<string, string>): Promise<Service> {
  const dir = await mkdtemp(join(tmpdir(), 'petcut-validate-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [main], {
    cwd: dir,
    env: childEnv({ PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_DATA_DIR: dir, PETCUT_COST_LEDGER: 'off', PETCUT_RATE_LIMIT_IP_PER_MIN: '0', PETCUT_LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const service = { child, base: `http://127.0.0.1:${port}`, output: () => output };
  services.push(service);
  return service;
}

async function ready(service: Service): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (service.child.exitCode !== null) throw new Error(`the service exited: ${service.output()}`);
    const status = await fetch(`${service.base}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the service never became ready');
}

interface Report { score: number; checks: Array<{ id: string; status: string; detail: string; measured?: Record<string, unknown> }>; exitCode: number }

async function validate(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; report?: Report }> {
  const json = join(await mkdtemp(join(tmpdir(), 'petcut-validate-report-')), 'report.json');
  const child = spawn(process.execPath, [cli, 'validate', ...args, '--json', json], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const report = await readFile(json, 'utf8').then((text) => JSON.parse(text) as Report, () => undefined);
  return { code, stdout, stderr, report };
}

const statusOf = (report: Report | undefined, id: string): string | undefined => report?.checks.find((c) => c.id === id)?.status;
const SMALL = ['--size', 'preview', '--samples', '2', '--scale', '0.05', '--ws-seconds', '1', '--memory-limit-mb', '8192'];

let healthy: Service;
let unwritable: Service;
let tinyQueue: Service;
let noShop: Service;
let revisioned: Service;
const REVISION = 'petcut-staging-00042-abc';

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'petcut-validate-file-'));
  const file = join(dir, 'not-a-folder');
  await writeFile(file, 'x');
  healthy = await startService({});
  // A data "folder" that is a file: every write fails (a read-only dir would not do as root).
  unwritable = await startService({ PETCUT_DATA_DIR: file });
  tinyQueue = await startService({ PETCUT_QUEUE_MAX: '0', PETCUT_CONCURRENCY: '1', PETCUT_FILES_PER_JOB: '1' });
  noShop = await startService({ PETCUT_CORS_ORIGINS: 'https://other.example' });
  // What Cloud Run sets in a revision's containers.
  revisioned = await startService({ K_REVISION: REVISION, K_SERVICE: 'petcut-staging', K_CONFIGURATION: 'petcut-staging' });
  await Promise.all(services.map(ready));
}, 240_000);

afterAll(() => {
  for (const service of services) service.child.kill('SIGKILL');
});

describe('petcut validate', () => {
  it('passes every check that can pass on a healthy service, skips cold start without --cold and says why', async () => {
    const { code, stdout, report } = await validate([healthy.base, ...SMALL]);
    expect(report, stdout).toBeDefined();
    for (const id of ['memory', 'storage', 'cors', 'websocket', 'concurrency', 'health']) expect(statusOf(report, id), `${id}: ${stdout}`).toBe('pass');
    expect(statusOf(report, 'cold')).toBe('skipped');
    expect(report!.checks.find((c) => c.id === 'cold')!.detail).toMatch(/--cold/);
    // The warm check ran on unique photos (every one a cache MISS); its verdict is this machine's speed.
    const warm = report!.checks.find((c) => c.id === 'warm')!;
    expect(warm.detail).toMatch(/all MISS/);
    expect(warm.measured?.samples).toBe(2);
    expect(code).toBe(warm.status === 'pass' ? 0 : 1);
    expect(report!.exitCode).toBe(code);
    // Cold skipped, 85 points ran; a slow machine fails warm (20): 65/85 = 76.
    expect(report!.score).toBe(warm.status === 'pass' ? 100 : 76);
    expect(stdout).toMatch(/score \d+\/100/);
  }, 360_000);

  it('fails the storage check (only) when the service cannot write its storage', async () => {
    const { code, report } = await validate([unwritable.base, '--only', 'storage,cors']);
    expect(statusOf(report, 'storage')).toBe('fail');
    expect(report!.checks.find((c) => c.id === 'storage')!.detail).toMatch(/503.*PETCUT_E_STORAGE_UNAVAILABLE/);
    expect(statusOf(report, 'cors')).toBe('pass');
    expect(code).toBe(1);
  }, 60_000);

  it('a one-slot service with no queue refuses the burst with coded 503s only: the concurrency check passes', async () => {
    const { code, report } = await validate([tinyQueue.base, '--only', 'concurrency', ...SMALL]);
    const check = report!.checks.find((c) => c.id === 'concurrency')!;
    expect(check.status, check.detail).toBe('pass');
    expect((check.measured?.statuses as Record<string, number>)['503']).toBeGreaterThan(0);
    expect(code).toBe(0);
  }, 180_000);

  it('fails the CORS check when PETCUT_CORS_ORIGINS leaves the shop out', async () => {
    const { code, report } = await validate([noShop.base, '--only', 'cors,storage', '--shop', 'perkieprints']);
    expect(statusOf(report, 'cors')).toBe('fail');
    expect(report!.checks.find((c) => c.id === 'cors')!.detail).toMatch(/https:\/\/perkieprints\.myshopify\.com/);
    expect(statusOf(report, 'storage')).toBe('pass');
    expect(code).toBe(1);
  }, 60_000);

  it.each([
    [['not-a-url'], /<url>: "not-a-url" is not a URL/],
    [['http://127.0.0.1:1', '--only', 'warm,nope'], /--only: unknown check "nope"/],
    [['http://127.0.0.1:1', '--scale', '2'], /--scale/],
    [['http://127.0.0.1:1', '--size', 'huge'], /--size/],
    [['http://127.0.0.1:1', '--operator-key', 'pk_secret'], /unknown option '--operator-key'/],
  ])('bad usage %j exits 2 naming the flag', async (args, message) => {
    const { code, stderr } = await validate(args);
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
  });

  it('an unreachable target exits 3 naming the URL and what to check', async () => {
    const { code, stderr, report } = await validate(['http://127.0.0.1:1']);
    expect(stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1\/healthz .*check the URL/);
    expect(code).toBe(3);
    expect(report!.exitCode).toBe(3);
  });

  it('cold: the --cold hook restarts a real local process, and each cold start is timed from the hook to the first cut-out', async () => {
    // The hook a local operator would write: stop the service, start it again in the background, return.
    const dir = await mkdtemp(join(tmpdir(), 'petcut-validate-cold-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const hook = join(dir, 'restart.sh');
    await writeFile(hook, [
      'pid_file="$COLD_DIR/pid"',
      'if [ -f "$pid_file" ]; then old=$(cat "$pid_file"); kill "$old" 2>/dev/null; while kill -0 "$old" 2>/dev/null; do sleep 0.1; done; fi',
      'PORT="$COLD_PORT" PETCUT_HOST=127.0.0.1 PETCUT_DATA_DIR="$COLD_DIR" PETCUT_COST_LEDGER=off PETCUT_LOG_LEVEL=warn nohup "$NODE" "$MAIN" >>"$COLD_DIR/log" 2>&1 &',
      'echo $! > "$pid_file"; echo $! >> "$COLD_DIR/pids"',
    ].join('\n'));
    const env = { COLD_DIR: dir, COLD_PORT: String(port), NODE: process.execPath, MAIN: main };
    // The target runs before validation starts, as a deployed service does.
    await new Promise((resolve, reject) => spawn('sh', [hook], { env: childEnv(env), stdio: 'ignore' }).once('exit', resolve).once('error', reject));
    const target = { child: { exitCode: null } as ChildProcess, base: `http://127.0.0.1:${port}`, output: () => '' };
    await ready(target);
    try {
      const { code, report } = await validate([`http://127.0.0.1:${port}`, '--only', 'cold', '--cold', `sh ${hook}`, '--cold-runs', '2', '--size', 'preview'], env);
      const cold = report!.checks.find((c) => c.id === 'cold')!;
      expect(cold.status, cold.detail).toBe('pass');
      const seconds = cold.measured!.seconds as number[];
      expect(seconds).toHaveLength(2);
      // Each run was a new process (a real start, the model loaded again), and the one before it is gone.
      const pids = (await readFile(join(dir, 'pids'), 'utf8')).trim().split('\n').map(Number);
      expect(new Set(pids).size).toBe(3);
      expect(() => process.kill(pids[0]!, 0)).toThrow();
      expect(code).toBe(0);
    } finally {
      const pid = Number(await readFile(join(dir, 'pid'), 'utf8').catch(() => '0'));
      if (pid > 0) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }, 300_000);
});

interface SmokeJson { url: string; passed: boolean; steps: Array<{ id: string; status: string; detail: string; seconds: number }>; exitCode: number }

async function smoke(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; report?: SmokeJson }> {
  const { code, stdout, stderr, report } = await validate(['--smoke', ...args]);
  return { code, stdout, stderr, report: report as unknown as SmokeJson | undefined };
}

const stepOf = (report: SmokeJson | undefined, id: string) => report?.steps.find((s) => s.id === id);
const SMOKE_IDS = ['readiness', 'cutout', 'effects', 'storage', 'metrics'];

describe('petcut validate --smoke', () => {
  it('passes every step against a healthy service, in order, with the report as JSON', async () => {
    const { code, stdout, report } = await smoke([healthy.base]);
    expect(report?.steps.map((s) => s.id), stdout).toEqual(SMOKE_IDS);
    for (const step of report!.steps) expect(step.status, `${step.id}: ${step.detail}`).toBe('pass');
    expect(stepOf(report, 'cutout')!.detail).toMatch(/1024x768 .*PNG with alpha/);
    expect(stepOf(report, 'effects')!.detail).toMatch(/\d+ effects listed; \w+ applied/);
    expect(report!.steps.every((s) => s.seconds >= 0)).toBe(true);
    expect(report).toMatchObject({ url: healthy.base, passed: true, exitCode: 0 });
    expect(stdout).toMatch(/5\/5 steps passed: PASS/);
    expect(code).toBe(0);
  }, 120_000);

  it('fails the storage step when the service cannot write its storage, and still runs and reports the later steps', async () => {
    const { code, report } = await smoke([unwritable.base]);
    expect(report?.steps.map((s) => s.id)).toEqual(SMOKE_IDS);
    expect(stepOf(report, 'storage')!.status).toBe('fail');
    expect(stepOf(report, 'storage')!.detail).toMatch(/503.*PETCUT_E_STORAGE_UNAVAILABLE/);
    expect(stepOf(report, 'readiness')!.status).toBe('pass');
    // metrics runs after storage: a failed step does not stop the next ones.
    expect(stepOf(report, 'metrics')!.status, stepOf(report, 'metrics')!.detail).toBe('pass');
    expect(report!.passed).toBe(false);
    expect(code).toBe(1);
  }, 120_000);

  it('--expect-revision fails on a service without K_REVISION and on another revision, passes on the expected one', async () => {
    const none = await smoke([healthy.base, '--expect-revision', REVISION]);
    expect(stepOf(none.report, 'metrics')!.status).toBe('fail');
    expect(stepOf(none.report, 'metrics')!.detail).toMatch(new RegExp(`do not carry revision="${REVISION}" \\(they carry \\(none\\)\\)`));
    expect(none.code).toBe(1);

    const other = await smoke([revisioned.base, '--expect-revision', 'petcut-staging-00041-old']);
    expect(stepOf(other.report, 'metrics')!.detail).toMatch(new RegExp(`they carry ${REVISION}`));
    expect(other.code).toBe(1);

    const right = await smoke([revisioned.base, '--expect-revision', REVISION]);
    for (const step of right.report!.steps) expect(step.status, `${step.id}: ${step.detail}`).toBe('pass');
    expect(stepOf(right.report, 'metrics')!.detail).toMatch(new RegExp(`all \\d+ petcut_ samples carry revision="${REVISION}"`));
    expect(right.code).toBe(0);
  }, 240_000);

  it('a service that never turns ready fails readiness, and every later step as "not ready"', async () => {
    // Answers, but /readyz is 503 for ever (a revision whose model never loads).
    const server = createServer((_request, response) => response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"PETCUT_E_NOT_READY"}}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { code, report } = await smoke([`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '--ready-timeout', '2']);
      expect(stepOf(report, 'readiness')).toMatchObject({ status: 'fail' });
      expect(stepOf(report, 'readiness')!.detail).toMatch(/never answered 200 within 2 s .*last 503/);
      expect(report!.steps.slice(1)).toEqual(SMOKE_IDS.slice(1).map((id) => ({ id, status: 'fail', detail: 'not ready', seconds: 0 })));
      expect(code).toBe(1);
    } finally {
      server.close();
    }
  });

  it('an unreachable target exits 3 with the report', async () => {
    const { code, stderr, report } = await smoke(['http://127.0.0.1:1', '--ready-timeout', '1']);
    expect(stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1\/readyz within 1 s/);
    expect(report).toMatchObject({ passed: false, exitCode: 3 });
    expect(code).toBe(3);
  });

  it.each([
    [['http://127.0.0.1:1', '--expect-revision', 'petcut-x'], /--expect-revision belongs to --smoke/],
    [['http://127.0.0.1:1', '--ready-timeout', '5'], /--ready-timeout belongs to --smoke/],
    [['http://127.0.0.1:1', '--smoke', '--only', 'warm'], /--smoke runs its own steps .*leave out --only/],
    [['http://127.0.0.1:1', '--smoke', '--expect-revision', 'Not_A_Revision'], /--expect-revision: "Not_A_Revision" must be a Cloud Run revision name/],
    [['http://127.0.0.1:1', '--smoke', '--ready-timeout', '0'], /--ready-timeout: "0" must be a whole number/],
  ])('bad usage %j exits 2 naming the flag', async (args, message) => {
    const { code, stderr } = await validate(args);
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
  });
});
