import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { photo } from './support/app.js';
import { childEnv } from './support/env.js';
import { until } from './support/wait.js';

/**
 * The service as a process (what `npm start` runs): configuration checked at
 * start-up, and SIGTERM draining the work in flight before exiting.
 */
const main = new URL('../dist/main.js', import.meta.url).pathname;

/**
 * Runs dist/main.js with the test's variables and none of the shell's petcut ones (support/env.ts), in
 * `cwd` (a temporary directory: main.ts reads a .env from its working directory, and a developer's own
 * .env in the repository must not configure the tests).
 */
function start(env: Record<string, string>, cwd = tmpdir()): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [main], { cwd, env: childEnv({ PETCUT_LOG_LEVEL: 'info', PETCUT_HOST: '127.0.0.1', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitReady(base: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the service never became ready');
}

describe('the service process', () => {
  it('refuses to start on a bad variable, naming it', async () => {
    const run = start({ PORT: '8080', PETCUT_QUEUE_MAX: 'lots' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/PETCUT_QUEUE_MAX/);
  });

  it('on SIGTERM stops taking work, finishes the job already in a worker and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petcut-main-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const base = `http://127.0.0.1:${port}`;
    const run = start({ PORT: String(port), PETCUT_DATA_DIR: dir, PETCUT_SHUTDOWN_TIMEOUT_S: '60', PETCUT_RATE_LIMIT_IP_PER_MIN: '0' }, dir);
    await waitReady(base);
    const body = new FormData();
    body.append('image', new Blob([new Uint8Array(await photo(960, 720))], { type: 'image/jpeg' }), 'pet.jpg');
    const accepted = await fetch(`${base}/v1/jobs`, { method: 'POST', body, headers: { 'x-session-id': 'sigterm-session' } });
    expect(accepted.status).toBe(202);
    // Work not yet in a worker is refused at shutdown (its client retries elsewhere): wait until this one is.
    // A job that finished before it was seen in a worker would not test the drain: that fails, loudly.
    const { id } = (await accepted.json()) as { id: string };
    await until(async () => {
      const polled = (await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { status: string; progress?: { stage?: string } };
      if (polled.status === 'succeeded' || polled.status === 'failed') throw new Error(`the job ${polled.status} before it was seen in a worker: use a bigger photo`);
      return ['segmentation', 'refine', 'effect', 'encode', 'store'].includes(polled.progress?.stage ?? '');
    }, 'the job to be in a pipeline worker', 60_000, 20);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    // The job finished before the exit: its original and cut-out are in the session.
    const stored = (await readdir(join(dir, 'sessions', 'temporary', 'sigterm-session'))).filter((name) => !name.startsWith('.'));
    expect(stored.map((name) => name.split('.').pop()).sort()).toEqual(['jpg', 'png']);
    expect(run.output()).toMatch(/draining/);
  });

  it('on SIGTERM while the model still loads, waits for it, closes it and exits 0 (no abort)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petcut-main-'));
    const run = start({ PORT: '0', PETCUT_DATA_DIR: dir, PETCUT_COST_LEDGER: 'off' }, dir);
    // Listening comes first, the model a moment later: SIGTERM lands in between.
    await until(() => /Server listening/.test(run.output()), 'the service to log "Server listening"', 30_000, 5);
    expect(run.output(), 'the model loaded before SIGTERM could land: this run does not test the load being waited for').not.toMatch(/model loaded/);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const output = run.output();
    expect(output).not.toMatch(/Napi|terminate called/);
    // The load finished after the signal and the engine was closed before the exit.
    expect(output.indexOf('model loaded')).toBeGreaterThan(output.indexOf('shutting down'));
  });
});
