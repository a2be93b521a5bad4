import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { form, photo } from './support/app.js';
import { childEnv } from './support/env.js';

/**
 * (Named process.*: `npm test` runs these after the rest, alone on the
 * machine, because they check deadlines measured in seconds of real work.)
 *
 * Shutdown as Cloud Run does it (issue #12, item 7), through `npm start`
 * itself (the README's run command): SIGTERM to npm reaches the server (no
 * shell left in between), the listener keeps answering while the instance
 * drains (/readyz 503, new work 503 + Retry-After), work waiting for a worker
 * is refused at once, work in a worker finishes, and past the deadline what
 * still runs is answered 503, all before the exit (0) that must come within
 * PETCUT_SHUTDOWN_TIMEOUT_S (Cloud Run sends SIGKILL 10 s after SIGTERM).
 */
const root = new URL('..', import.meta.url).pathname;

interface Server { readonly npm: ChildProcess; readonly base: string; readonly dir: string; output(): string; readonly exited: Promise<number | null> }

async function npmStart(env: Record<string, string>): Promise<Server> {
  const dir = await mkdtemp(join(tmpdir(), 'petcut-npm-start-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
    // None of the shell's petcut variables (support/env.ts). `npm start` runs in the repository, so a .env there is
    // still read (main.ts); the variables set here win over it.
    env: childEnv({ PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_DATA_DIR: dir, PETCUT_LOG_LEVEL: 'info', PETCUT_COST_LEDGER: 'off', PETCUT_CONCURRENCY: '2', PETCUT_ADMISSION_DEADLINE_S: '0', ...env }),
  });
  let output = '';
  npm.stdout!.on('data', (chunk) => (output += String(chunk)));
  npm.stderr!.on('data', (chunk) => (output += String(chunk)));
  // 'close', not 'exit': the output read to its end (the server's last lines come after npm's exit otherwise).
  const exited = new Promise<number | null>((resolve) => npm.once('close', (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 900; i++) {
    if (await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)) return { npm, base, dir, output: () => output, exited };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never ready: ${output.slice(-2000)}`);
}

interface Answer { readonly status: number; readonly code?: string; readonly at: number; readonly retryAfter?: string | null }

/** A cut-out (stored in its session), answered with its status and code, or status 0 when the connection failed. */
async function cutout(base: string, data: Buffer, session: string): Promise<Answer> {
  try {
    const response = await fetch(`${base}/v1/cutouts`, { method: 'POST', body: form([{ data }]), headers: { 'x-session-id': session } });
    const body = response.headers.get('content-type')?.includes('json') ? ((await response.json()) as { error?: { code: string } }) : (await response.arrayBuffer(), {});
    return { status: response.status, code: body.error?.code, at: Date.now(), retryAfter: response.headers.get('retry-after') };
  } catch {
    return { status: 0, at: Date.now() };
  }
}

interface Queue { readonly inFlight: number; readonly running: number; readonly waiting: number }

async function waitFor(base: string, test: (health: { queue: Queue }) => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const health = await fetch(`${base}/health`).then((r) => r.json() as Promise<{ queue: Queue }>);
    if (test(health)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the service never got there');
}

/** What each session directory holds on disk (temporary files included, which must not be there). */
async function sessionFiles(dir: string): Promise<Record<string, string[]>> {
  const root = join(dir, 'sessions', 'temporary');
  const sessions = await readdir(root).catch(() => [] as string[]);
  return Object.fromEntries(await Promise.all(sessions.map(async (s) => [s, (await readdir(join(root, s))).filter((n) => !n.endsWith('.meta.json')).sort()] as const)));
}

describe('npm start and SIGTERM', () => {
  it('drains within the deadline: queued work refused at once, running work finished, answers while draining, exit 0, nothing half-written', async () => {
    // A 30 s deadline (27 s drain window), not the 9 s default: on a 2-core AVX2-only CI machine two
    // 640x480 cut-outs side by side take longer than 6 s (one 1024 px model run is ~7 s there).
    const server = await npmStart({ PETCUT_SHUTDOWN_TIMEOUT_S: '30', PETCUT_QUEUE_MAX: '8' });
    const photos = await Promise.all([0, 1, 2, 3].map((i) => photo(640, 480, 'jpeg', i * 25)));
    const inFlight = photos.map((data, i) => cutout(server.base, data, `sigterm-drain-${i}`));
    // All four in the engine: two in its workers, two waiting for one.
    await waitFor(server.base, (health) => health.queue.running === 2 && health.queue.waiting === 2);
    const signalled = Date.now();
    server.npm.kill('SIGTERM');
    // The listener is still there while draining, and says so (npm passes the signal on in its own time).
    let readyz = 200;
    while (readyz === 200) readyz = (await fetch(`${server.base}/readyz`)).status;
    expect(readyz).toBe(503);
    const healthz = await fetch(`${server.base}/healthz`);
    expect(healthz.status).toBe(200);
    const late = await cutout(server.base, photos[0]!, 'sigterm-late');
    expect(late).toMatchObject({ status: 503, code: 'PETCUT_E_SHUTTING_DOWN' });
    expect(late.retryAfter).toMatch(/^\d+$/);
    const answers = await Promise.all(inFlight);
    const code = await server.exited;
    const exitedAfterMs = Date.now() - signalled;
    expect(code, server.output().slice(-3000)).toBe(0);
    // Every request got an HTTP answer: the two queued ones 503 at once, the two running ones their cut-out.
    const refused = answers.filter((a) => a.status === 503);
    const done = answers.filter((a) => a.status === 200);
    expect(refused.map((a) => a.code)).toEqual(['PETCUT_E_SHUTTING_DOWN', 'PETCUT_E_SHUTTING_DOWN']);
    expect(done).toHaveLength(2);
    expect(Math.max(...refused.map((a) => a.at))).toBeLessThan(Math.min(...done.map((a) => a.at)));
    expect(exitedAfterMs).toBeLessThan(30_500);
    // Sessions of finished cut-outs hold their original and cut-out; refused ones nothing; no temporary file anywhere.
    const files = await sessionFiles(server.dir);
    const kept = Object.values(files);
    expect(kept).toHaveLength(2);
    for (const names of kept) expect(names.map((n) => n.split('.').pop())).toEqual(['jpg', 'png']);
    expect(JSON.stringify(files)).not.toMatch(/\.tmp-/);
    expect(await fetch(`${server.base}/healthz`).then(() => 'listening', () => 'closed')).toBe('closed');
  });

  it('past the deadline, work still in a worker is answered 503 and the process ends in time (0, or a SIGKILL its log explains)', async () => {
    const server = await npmStart({ PETCUT_SHUTDOWN_TIMEOUT_S: '4' });
    const photos = await Promise.all([0, 1].map((i) => photo(4000, 3000, 'jpeg', i * 50)));
    const inFlight = photos.map((data, i) => cutout(server.base, data, `sigterm-deadline-${i}`));
    await waitFor(server.base, (health) => health.queue.running === 2);
    const signalled = Date.now();
    server.npm.kill('SIGTERM');
    const answers = await Promise.all(inFlight);
    const code = await server.exited;
    const log = server.output();
    // Exit 0 once the engine stopped cleanly; if a model run (which cannot be interrupted) still holds a worker at the
    // deadline, the process ends itself with SIGKILL (exit() under native code aborts), after saying so. On a loaded
    // two-core machine one run can take 2.5 s, the whole close window here: both endings are right, none other is.
    if (code !== 0) {
      expect(code, log.split('\n').filter((l) => !/listening|lifecycle|authentication/.test(l)).join('\n').slice(-3000)).toBeNull();
      expect(log, log.slice(-1500)).toMatch(/the engine was still running native code at the deadline/);
    }
    expect(log).not.toMatch(/shutdown did not finish within its deadline/);
    // Two 12 MP photos side by side take longer than the 1 s drain window (4 s less the 3 s kept for closing): both are told so.
    expect(answers.map((a) => [a.status, a.code])).toEqual([[503, 'PETCUT_E_SHUTTING_DOWN'], [503, 'PETCUT_E_SHUTTING_DOWN']]);
    expect(Date.now() - signalled).toBeLessThan(4500);
    // Their originals, stored beside the work, were taken back.
    expect(Object.values(await sessionFiles(server.dir)).flat()).toEqual([]);
    expect(server.output()).toMatch(/drained: closing/);
  });
});
