import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../src/observability/metrics.js';
import { childEnv } from './support/env.js';
import { until } from './support/wait.js';

/**
 * The restart KPI (plan, section 6 "Container restart frequency"): every
 * process exports its start time under its revision (the alert on restart
 * loops, PetcutRestartLoop, is tested by promtool in alerts.test.yml), and
 * logs its start and its exit with how long it lived: the trail that tells a
 * crash from a graceful exit, and a kill (no exit line) from both.
 */
const main = new URL('../dist/main.js', import.meta.url).pathname;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-restarts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function start(env: Record<string, string>) {
  const child = spawn(process.execPath, [main], {
    cwd: dir,
    env: childEnv({ PETCUT_LOG_LEVEL: 'info', PETCUT_HOST: '127.0.0.1', PORT: '0', PETCUT_DATA_DIR: dir, PETCUT_COST_LEDGER: 'off', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = (): Array<Record<string, unknown>> => output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, output: () => output, exited, lines };
}

describe('process starts per revision', () => {
  it('petcut_process_start_time_seconds: this process\'s start, under its revision', async () => {
    const metrics = createMetrics({ revision: 'petcut-00042-abc', service: 'petcut' });
    const text = await metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith('petcut_process_start_time_seconds{'));
    expect(line).toMatch(/^petcut_process_start_time_seconds\{revision="petcut-00042-abc"\} \d+(\.\d+)?$/);
    const started = Number(line!.split(' ').pop());
    const expected = Date.now() / 1000 - process.uptime();
    expect(Math.abs(started - expected)).toBeLessThan(2);
    // No revision off Cloud Run: the series is there, without the label.
    expect(await createMetrics({}).registry.metrics()).toMatch(/^petcut_process_start_time_seconds \d/m);
  });

  it('the process logs its start and, on SIGTERM, its exit with code 0 and its uptime', { timeout: 180_000 }, async () => {
    const run = start({ K_REVISION: 'petcut-00042-abc' });
    await until(() => run.lines().some((l) => l.message === 'process started'), 'the "process started" line', 60_000, 20);
    expect(run.lines().find((l) => l.message === 'process started')).toMatchObject({ revision: 'petcut-00042-abc', pid: run.child.pid });
    // A SIGTERM during the model's load is main.test.ts's case (on a loaded machine the load can outlast the drain deadline).
    await until(() => run.lines().some((l) => l.message === 'model loaded'), 'the model to load', 100_000, 50);
    run.child.kill('SIGTERM');
    expect(await run.exited, run.output()).toBe(0);
    expect(run.lines().find((l) => l.message === 'shutting down: draining in-flight work')).toMatchObject({ uptimeS: expect.any(Number) });
    expect(run.lines().find((l) => l.message === 'process exit')).toMatchObject({ code: 0, uptimeS: expect.any(Number), revision: 'petcut-00042-abc' });
  });

  it('a process killed from outside (out of memory) leaves no exit line: its start is its last word', { timeout: 120_000 }, async () => {
    const run = start({});
    await until(() => run.lines().some((l) => l.message === 'process started'), 'the "process started" line', 60_000, 20);
    // On the same disk, the run before (the SIGTERM case) is known to have exited cleanly.
    expect(run.lines().find((l) => l.message === 'process started')!.previousRun).toMatchObject({ fate: 'exited', code: 0, revision: 'petcut-00042-abc', uptimeS: expect.any(Number) });
    run.child.kill('SIGKILL');
    await run.exited;
    expect(run.lines().some((l) => l.message === 'process exit')).toBe(false);
    // The next start on this disk says the killed one recorded no exit.
    const next = start({});
    await until(() => next.lines().some((l) => l.message === 'process started'), 'the next "process started" line', 60_000, 20);
    expect(next.lines().find((l) => l.message === 'process started')!.previousRun).toMatchObject({ fate: 'no exit recorded', state: 'running', pid: run.child.pid });
    next.child.kill('SIGKILL');
    await next.exited;
  });
});
