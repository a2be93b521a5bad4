#!/usr/bin/env node
// Rate limits measured as issue #5 asks: a real Redis and two petcut processes
// on loopback, one client IP (behind one trusted proxy hop) hammering a cheap
// read route through both. GCRA allows burst + 1 at once, then limit per
// window, so over D seconds the budget is limit * D / window + burst + 1; the
// combined allowed count must match it within 5 %. The same run against one
// process is the comparison, and consume() is timed in-process (memory store,
// the peer, vs Redis store): the overhead a limited request pays over an
// unlimited one. `failover` times limiter.charge() one call at a time while
// Redis is up, killed (SIGKILL), hung (SIGSTOP) and never there, against the
// 250 ms command timeout (test/rateLimit.failover.test.ts asserts what is
// decided; the times are here).
// npm run build && node bench/ratelimit.mjs [durationS]  -> one JSON object on stdout.
// Env: DURATION_S (30), CLIENTS (8 concurrent), LIMIT_PER_MIN (100), BURST (10).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMemoryStore, createRedisStore } from '../dist/security/rateLimit/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const durationS = Number(process.argv[2] ?? process.env.DURATION_S ?? 30);
const clients = Number(process.env.CLIENTS ?? 8);
const limit = Number(process.env.LIMIT_PER_MIN ?? 100);
const burst = Number(process.env.BURST ?? 10);
const ROUTE = '/v1/effects';
const children = [];
const dataDir = mkdtempSync(join(tmpdir(), 'petcut-ratelimit-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function pongs(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')); });
    socket.once('error', () => resolve(false));
  });
}

async function until(check, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await sleep(50);
  }
}

function launch(command, args, env) {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const keep = (chunk) => { log.push(chunk.toString()); if (log.length > 50) log.shift(); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.once('error', (error) => { console.error(`${command}: ${error.message}`); process.exit(1); });
  children.push(child);
  return { child, log };
}

async function startRedis() {
  const port = await freePort();
  launch('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await until(() => pongs(port), 'redis-server', 10_000);
  return `redis://127.0.0.1:${port}`;
}

async function startService(redisUrl) {
  const port = await freePort();
  const service = launch(process.execPath, ['dist/main.js'], {
    PORT: String(port), PETCUT_HOST: '127.0.0.1', PETCUT_DATA_DIR: dataDir, REDIS_URL: redisUrl, PETCUT_LOG_LEVEL: 'warn',
    PETCUT_TRUSTED_PROXIES: '1', PETCUT_RATE_LIMIT_IP_PER_MIN: String(limit), PETCUT_RATE_LIMIT_BURST: String(burst),
  });
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${url}/healthz`)).ok, `petcut on port ${port}`);
  return { url, log: service.log };
}

/** CLIENTS loops, each sending the next request to the next process in turn, for durationS. */
async function hammer(urls, ip) {
  const tally = { allowed: 0, limited: 0, statuses: {} };
  let turn = 0;
  const started = performance.now();
  const deadline = started + durationS * 1000;
  const client = async () => {
    while (performance.now() < deadline) {
      const response = await fetch(`${urls[turn++ % urls.length]}${ROUTE}`, { headers: { 'x-forwarded-for': ip } });
      await response.arrayBuffer();
      tally.statuses[response.status] = (tally.statuses[response.status] ?? 0) + 1;
      if (response.status === 429) tally.limited += 1;
      else tally.allowed += 1;
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const elapsedS = (performance.now() - started) / 1000;
  const budget = (limit * elapsedS) / 60 + burst + 1;
  return {
    processes: urls.length, elapsedS: round(elapsedS, 2), requests: tally.allowed + tally.limited, allowed: tally.allowed,
    budget: round(budget, 1), errorPct: round(((tally.allowed - budget) / budget) * 100, 2), limited429: tally.limited, statuses: tally.statuses,
  };
}

function percentiles(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] * 1000, 1);
  return { n: sorted.length, p50Us: at(0.5), p99Us: at(0.99) };
}

/** consume() timed one call at a time, on 1000 keys (a busy service's spread of clients). */
async function timeConsume(store, calls) {
  const rule = { name: 'ip', limit, windowS: 60, burst };
  const samples = [];
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await store.consume(`bench:${i % 1000}`, rule);
    samples.push(performance.now() - started);
  }
  return percentiles(samples.slice(Math.floor(calls / 10)));
}

async function microBenchmark(redisUrl) {
  const memory = createMemoryStore({ maxKeys: 100_000 });
  const redis = createRedisStore({ url: redisUrl, timeoutMs: 250 });
  const memoryStore = await timeConsume(memory, 50_000);
  const redisStore = await timeConsume(redis, 10_000);
  await Promise.all([memory.close(), redis.close()]);
  return { memoryStore, redisStore, redisOverMemoryP50: round(redisStore.p50Us / memoryStore.p50Us, 1), redisOverMemoryP99: round(redisStore.p99Us / memoryStore.p99Us, 1) };
}

/** limiter.charge() timed one call at a time: `count` calls on fresh subjects. */
async function timeCharges(limiter, count) {
  const ms = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await limiter.charge('ip', `bench-failover-${Math.random()}`);
    ms.push(performance.now() - started);
  }
  const sorted = [...ms].sort((a, b) => a - b);
  return { n: count, p50Ms: round(sorted[Math.floor(count / 2)], 2), maxMs: round(sorted[count - 1], 2) };
}

async function failoverLatency() {
  const { createRateLimiter } = await import('../dist/security/rateLimit/index.js');
  const redisTimeoutMs = 250;
  const config = { ipPerMin: 60, sessionPerMin: 20, burst: 4, warmupPerHour: 20, maxKeys: 1000, redisTimeoutMs };
  const log = { info: () => undefined, warn: () => undefined };
  const ownRedis = async () => {
    const port = await freePort();
    const { child } = launch('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    await until(() => pongs(port), 'redis-server (failover)', 10_000);
    return { url: `redis://127.0.0.1:${port}`, child };
  };
  const killedRedis = await ownRedis();
  const onKilled = createRateLimiter({ ...config, redisUrl: killedRedis.url }, { log });
  const up = await timeCharges(onKilled, 50);
  const exited = new Promise((resolve) => killedRedis.child.once('exit', resolve));
  killedRedis.child.kill('SIGKILL');
  await exited;
  const killed = await timeCharges(onKilled, 50);
  const hungRedis = await ownRedis();
  const onHung = createRateLimiter({ ...config, redisUrl: hungRedis.url }, { log });
  await timeCharges(onHung, 5);
  hungRedis.child.kill('SIGSTOP');
  const hung = await timeCharges(onHung, 50);
  hungRedis.child.kill('SIGCONT');
  const onNothing = createRateLimiter({ ...config, redisUrl: `redis://127.0.0.1:${await freePort()}` }, { log });
  const unreachable = await timeCharges(onNothing, 50);
  await Promise.all([onKilled.close(), onHung.close(), onNothing.close()]);
  // The bound the test suite once asserted per call: the command timeout plus 150 ms of scheduling slack.
  const boundMs = redisTimeoutMs + 150;
  return { redisTimeoutMs, boundMs, up, killed, hung, unreachable, withinBound: [killed, hung, unreachable].every((r) => r.maxMs < boundMs) };
}

async function main() {
  const redisUrl = await startRedis();
  const services = await Promise.all([startService(redisUrl), startService(redisUrl)]);
  const probe = await fetch(`${services[0].url}${ROUTE}`, { headers: { 'x-forwarded-for': '192.0.2.1' } });
  const limiting = probe.headers.has('ratelimit-limit');
  const report = { route: ROUTE, limitPerMin: limit, windowS: 60, burst, durationS, clients, limiting };
  if (limiting) {
    report.twoProcesses = await hammer(services.map((s) => s.url), '203.0.113.7');
    report.oneProcess = await hammer([services[0].url], '203.0.113.8');
    report.withinTarget = Math.abs(report.twoProcesses.errorPct) <= 5;
  } else {
    report.note = 'the service sends no RateLimit-* headers: installRateLimits is not wired into src/app.ts yet, so only the micro-benchmark ran';
  }
  report.consumeLatency = await microBenchmark(redisUrl);
  report.failover = await failoverLatency();
  // A failover during the run would show here (and make the two-process budget per process).
  report.serviceRateLimitWarnings = services.flatMap((s) => s.log.join('').split('\n').filter((line) => /"level":(40|50)/.test(line) && /redis|rate limit/i.test(line))).slice(0, 5);
  console.log(JSON.stringify(report, null, 2));
}

function cleanUp() {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}

main().then(cleanUp, (error) => {
  console.error(error);
  cleanUp();
  process.exitCode = 1;
});
