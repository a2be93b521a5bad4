#!/usr/bin/env node
// Load test of the real service process: node bench/load.mjs <12mp.jpg> -> JSON.
// CLIENTS clients (default 20) upload the 12 MP photo in a loop for LOAD_SECONDS
// (default 60), each upload with unique trailing bytes so no cache hit hides
// the work; a 503 is honoured by waiting Retry-After. Meanwhile /healthz is
// polled every 100 ms from a separate process and the service's RSS sampled from /proc.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniqueJpeg } from './unique.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const photo = readFileSync(process.argv[2]);
const clients = Number(process.env.CLIENTS ?? 20);
const seconds = Number(process.env.LOAD_SECONDS ?? 60);
const memoryLimitMb = Number(process.env.MEMORY_LIMIT_MB ?? 3072);
const port = 18000 + Math.floor(Math.random() * 1000);
const dir = mkdtempSync(join(tmpdir(), 'petcut-load-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;

const spawned = performance.now();
const child = spawn(process.execPath, [...(process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : []), ...(process.env.TRACE_GC ? ['--trace-gc'] : []), join(root, 'dist', 'main.js')], {
  env: { ...process.env, PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_DATA_DIR: dir, PETCUT_LOG_LEVEL: 'warn', PETCUT_MEMORY_LIMIT_MB: String(memoryLimitMb), MALLOC_ARENA_MAX: '2',
    // 20 clients share one address here; the test is about capacity, not rate limits (bench/ratelimit.mjs).
    PETCUT_RATE_LIMIT_IP_PER_MIN: '1000000', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '1000000' },
  stdio: ['ignore', process.env.TRACE_GC ? 'inherit' : 'ignore', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/readyz`)).status === 200) break;
  } catch { /* not listening yet */ }
  if (i > 300) throw new Error('service did not become ready');
  await sleep(20);
}
const startToReadyMs = Math.round(performance.now() - spawned);

const rssMb = () => {
  const line = readFileSync(`/proc/${child.pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
};
const counts = {};
const latencies = [];
let stop = false;
let peakRss = 0;
const poller = spawn(process.execPath, [join(root, 'bench', 'healthz-poller.mjs'), base], { stdio: ['pipe', 'pipe', 'inherit'] });
let pollerOut = '';
poller.stdout.on('data', (chunk) => (pollerOut += chunk));
const sampler = (async () => {
  while (!stop) {
    peakRss = Math.max(peakRss, rssMb());
    await sleep(100);
  }
})();

const started = performance.now();
await Promise.all(Array.from({ length: clients }, async () => {
  while (performance.now() - started < seconds * 1000) {
    const t = performance.now();
    const response = await fetch(`${base}/v1/cutouts`, { method: 'POST', body: uniqueJpeg(photo), headers: { 'content-type': 'image/jpeg' } });
    const body = Buffer.from(await response.arrayBuffer());
    const key = response.status === 503 ? `503 ${JSON.parse(body.toString()).error.code}${response.headers.get('retry-after') ? ' +Retry-After' : ' NO Retry-After'}` : String(response.status);
    counts[key] = (counts[key] ?? 0) + 1;
    if (response.status === 200) latencies.push(performance.now() - t);
    else if (response.status === 503) await sleep(Number(response.headers.get('retry-after') ?? 1) * 1000);
    else console.error(response.status, body.toString().slice(0, 300));
  }
}));
const elapsedS = (performance.now() - started) / 1000;
stop = true;
await sampler;
poller.stdin.end();
await new Promise((resolve) => poller.once('exit', resolve));
const health = await (await fetch(`${base}/health`)).json();
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({
  clients, seconds: Math.round(elapsedS), memoryLimitMb, startToReadyMs,
  responses: counts,
  completedPerS: +((counts['200'] ?? 0) / elapsedS).toFixed(3),
  latency200Ms: { p50: Math.round(pct(latencies, 0.5)), p95: Math.round(pct(latencies, 0.95)), max: Math.round(pct(latencies, 1)) },
  healthzMs: JSON.parse(pollerOut),
  serviceEventLoopDelayMs: health.eventLoop,
  peakRssMb: Math.round(peakRss),
}));
