import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { photo } from './support/app.js';

/**
 * The service as a process (what `npm start` runs): configuration checked at
 * start-up, and SIGTERM draining the work in flight before exiting.
 */
const main = new URL('../dist/main.js', import.meta.url).pathname;

function start(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [main], { env: { ...process.env, PETCUT_LOG_LEVEL: 'info', PETCUT_HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
    const run = start({ PORT: String(port), PETCUT_DATA_DIR: dir, PETCUT_SHUTDOWN_TIMEOUT_S: '60', PETCUT_RATE_LIMIT_IP_PER_MIN: '0' });
    await waitReady(base);
    const body = new FormData();
    body.append('image', new Blob([new Uint8Array(await photo(480, 360))], { type: 'image/jpeg' }), 'pet.jpg');
    const accepted = await fetch(`${base}/v1/jobs`, { method: 'POST', body, headers: { 'x-session-id': 'sigterm-session' } });
    expect(accepted.status).toBe(202);
    // Work not yet in a worker is refused at shutdown (its client retries elsewhere): wait until this one is.
    const { id } = (await accepted.json()) as { id: string };
    for (let stage = ''; !['segmentation', 'refine', 'effect', 'encode', 'store'].includes(stage);) {
      const polled = (await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { progress?: { stage?: string } };
      stage = polled.progress?.stage ?? '';
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    // The job finished before the exit: its original and cut-out are in the session.
    const stored = (await readdir(join(dir, 'sessions', 'temporary', 'sigterm-session'))).filter((name) => !name.startsWith('.'));
    expect(stored.map((name) => name.split('.').pop()).sort()).toEqual(['jpg', 'png']);
    expect(run.output()).toMatch(/draining/);
  });

  it('on SIGTERM while the model still loads, waits for it, closes it and exits 0 (no abort)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petcut-main-'));
    const run = start({ PORT: '0', PETCUT_DATA_DIR: dir, PETCUT_COST_LEDGER: 'off' });
    // Listening comes first, the model a moment later: SIGTERM lands in between.
    for (let i = 0; i < 300 && !/Server listening/.test(run.output()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(run.output()).not.toMatch(/model loaded/);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const output = run.output();
    expect(output).not.toMatch(/Napi|terminate called/);
    // The load finished after the signal and the engine was closed before the exit.
    expect(output.indexOf('model loaded')).toBeGreaterThan(output.indexOf('shutting down'));
  });
});
