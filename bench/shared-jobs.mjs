#!/usr/bin/env node
// The shared job state's overhead per job (issue #17 part 4): one engine, three apps in this
// process: one on the memory store (no REDIS_URL) and two on a redis-server of our own (A takes the
// jobs, B answers polls for them). The same jobs, interleaved, on both paths: a cache hit (the
// cheapest job, where the overhead shows most) and a new photo (a model run). Reports ms per job
// (POST to finished), the owner's Redis round trips per job (one MULTI per event), and a poll on the
// other instance (a Redis GET) vs a local poll.
// npm run build && node bench/shared-jobs.mjs  -> one JSON object on stdout.  Env: JOBS (20 per path and kind).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createApp } from '../dist/app.js';
import { loadServiceConfig } from '../dist/config.js';
import { createEngine } from '../dist/engine/engine.js';
import { createStore } from '../dist/storage/index.js';
import { uniqueJpeg } from './unique.mjs';

const jobs = Number(process.env.JOBS ?? 20);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (v, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
process.once('exit', () => redis.kill('SIGKILL'));
await sleep(300);

const dir = mkdtempSync(join(tmpdir(), 'petcut-shared-bench-'));
const base = { PETCUT_DATA_DIR: dir, PETCUT_LOG_LEVEL: 'silent', PETCUT_COST_LEDGER: 'off', PETCUT_RATE_LIMIT_IP_PER_MIN: '0', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '0' };
const memoryConfig = loadServiceConfig(base);
const sharedConfig = loadServiceConfig({ ...base, REDIS_URL: `redis://127.0.0.1:${port}` });
const engine = await createEngine({ config: memoryConfig.engine, pipelines: memoryConfig.concurrency });
const store = createStore(memoryConfig.storage);
const memory = await createApp(memoryConfig, { engine, store, logger: false });
const owner = await createApp(sharedConfig, { engine, store, logger: false });
const other = await createApp(sharedConfig, { engine, store, logger: false });
await sleep(300);

const photo = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#8a6' } })
  .composite([{ input: Buffer.from('<svg width="320" height="240"><circle cx="150" cy="120" r="70" fill="#332"/></svg>') }]).jpeg().toBuffer();

async function job(app, data) {
  const started = performance.now();
  const response = await app.inject({ method: 'POST', url: '/v1/jobs', payload: data, headers: { 'content-type': 'image/jpeg' } });
  if (response.statusCode !== 202) throw new Error(`HTTP ${response.statusCode}: ${response.body}`);
  const { id } = response.json();
  for (;;) {
    const status = app.petcut.jobs.get(id)?.status;
    if (status === 'succeeded') return { id, ms: performance.now() - started };
    if (status === 'failed') throw new Error(`job ${id} failed`);
    await sleep(1);
  }
}

async function poll(app, id) {
  const started = performance.now();
  const response = await app.inject({ method: 'GET', url: `/v1/jobs/${id}` });
  if (response.statusCode !== 200) throw new Error(`poll HTTP ${response.statusCode}`);
  return performance.now() - started;
}

const result = { jobs };
await job(memory, photo);
await job(owner, photo); // warm: model, cache entry, connections
for (const kind of ['hit', 'miss']) {
  const times = { memory: [], shared: [] };
  const trips = [];
  const localPolls = [];
  const remotePolls = [];
  for (let i = 0; i < jobs; i++) {
    const data = kind === 'hit' ? photo : uniqueJpeg(photo);
    const mem = await job(memory, kind === 'hit' ? data : uniqueJpeg(photo));
    times.memory.push(mem.ms);
    const before = owner.petcut.shared.roundTrips();
    const shared = await job(owner, data);
    await sleep(5); // the last, unawaited write is counted once it went out
    trips.push(owner.petcut.shared.roundTrips() - before);
    times.shared.push(shared.ms);
    localPolls.push(await poll(memory, mem.id));
    remotePolls.push(await poll(other, shared.id));
  }
  const memoryMs = median(times.memory);
  const sharedMs = median(times.shared);
  result[kind] = {
    memoryMsPerJob: round(memoryMs), sharedMsPerJob: round(sharedMs), overheadMsPerJob: round(sharedMs - memoryMs), ratio: round(sharedMs / memoryMs, 3),
    redisRoundTripsPerJob: median(trips), localPollMs: round(median(localPolls)), pollOnOtherInstanceMs: round(median(remotePolls)),
  };
}

for (const app of [memory, owner, other]) await app.close();
await owner.petcut.shared.close();
await other.petcut.shared.close();
await engine.close?.();
redis.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
