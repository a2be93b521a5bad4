#!/usr/bin/env node
// Service overhead over the engine alone, and cache hits, in one process:
// node bench/service.mjs <12mp.jpg>  -> JSON on stdout.
// Every upload gets unique trailing bytes after the JPEG's end marker: the
// pixels are the same but the bytes differ, so the cache cannot answer it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createApp } from '../dist/app.js';
import { createEngine } from '../dist/engine.js';
import { loadServiceConfig } from '../dist/serviceConfig.js';
import { createStore } from '../dist/storage/index.js';

const photo = readFileSync(process.argv[2]);
const runs = Number(process.env.RUNS ?? 5);
const unique = () => Buffer.concat([photo, randomBytes(16)]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))];
const round1 = (v) => Math.round(v * 10) / 10;

const dir = mkdtempSync(join(tmpdir(), 'petcut-bench-'));
const config = loadServiceConfig({ PETCUT_DATA_DIR: dir, PETCUT_LOG_LEVEL: 'silent' });
const engine = await createEngine({ config: config.engine, pipelines: config.concurrency });
const app = await createApp(config, { engine, store: createStore(config.storage), logger: false });
const address = await app.listen({ port: 0, host: '127.0.0.1' });

async function post(body, headers = {}) {
  const t = performance.now();
  const response = await fetch(`${address}/v1/cutouts`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg', ...headers } });
  const bytes = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${bytes.toString()}`);
  return { ms: performance.now() - t, cache: response.headers.get('x-cache'), bytes: bytes.length };
}

async function engineAlone() {
  const t = performance.now();
  await engine.process(unique(), { outputs: [{ format: 'png' }] });
  return performance.now() - t;
}

// Warm both paths, then alternate so drift hits both alike.
await engineAlone();
await post(unique());
const engineMs = [], serviceMs = [], sessionMs = [];
for (let i = 0; i < runs; i++) {
  engineMs.push(await engineAlone());
  serviceMs.push((await post(unique())).ms);
  sessionMs.push((await post(unique(), { 'x-session-id': `bench-session-${i}` })).ms);
  await app.petcut.processing.drain();
}
const repeated = unique();
await post(repeated);
const hitMs = [];
for (let i = 0; i < 20; i++) {
  const hit = await post(repeated);
  if (hit.cache !== 'HIT') throw new Error(`expected a cache hit, got ${hit.cache}`);
  hitMs.push(hit.ms);
}
const engineMedian = median(engineMs), serviceMedian = median(serviceMs), sessionMedian = median(sessionMs);
console.log(JSON.stringify({
  runs,
  engineAloneMs: round1(engineMedian),
  serviceMs: round1(serviceMedian),
  serviceWithSessionStoreMs: round1(sessionMedian),
  overheadShare: +((serviceMedian - engineMedian) / serviceMedian).toFixed(4),
  overheadShareWithSessionStore: +((sessionMedian - engineMedian) / sessionMedian).toFixed(4),
  cacheHitMedianMs: round1(median(hitMs)),
  cacheHitP95Ms: round1(p95(hitMs)),
  peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
}));
await app.shutdown();
rmSync(dir, { recursive: true, force: true });
