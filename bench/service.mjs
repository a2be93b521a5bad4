#!/usr/bin/env node
// Service overhead over the engine alone, and cache hits, in one process:
// node bench/service.mjs <12mp.jpg>  -> JSON on stdout.
// Every upload gets unique trailing bytes after the JPEG's end marker: the
// pixels are the same but the bytes differ, so the cache cannot answer it.
// healthzDuringCutoutMs: /healthz answered while a 12 MP cut-out is in the
// engine, every 50 ms (test/http.service.test.ts checks that it answers; the
// times are here; the plan wants each under 250 ms).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../dist/app.js';
import { createEngine } from '../dist/engine/engine.js';
import { loadServiceConfig } from '../dist/config.js';
import { createStore } from '../dist/storage/index.js';
import { uniqueJpeg } from './unique.mjs';

const photo = readFileSync(process.argv[2]);
const runs = Number(process.env.RUNS ?? 5);
const unique = () => uniqueJpeg(photo);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))];
const round1 = (v) => Math.round(v * 10) / 10;

const dir = mkdtempSync(join(tmpdir(), 'petcut-bench-'));
// One client sends every request: limits high enough never to refuse, but the limiter still runs (its cost is in the overhead).
const config = loadServiceConfig({ PETCUT_DATA_DIR: dir, PETCUT_LOG_LEVEL: 'silent', PETCUT_RATE_LIMIT_IP_PER_MIN: '1000000', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '1000000' });
const engine = await createEngine({ config: config.engine, pipelines: config.concurrency });
const app = await createApp(config, { engine, store: createStore(config.storage), logger: false });
const address = await app.listen({ port: 0, host: '127.0.0.1' });

async function post(body, headers = {}, query = '') {
  const t = performance.now();
  const response = await fetch(`${address}/v1/cutouts${query}`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg', ...headers } });
  const ttfbMs = performance.now() - t;
  const bytes = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${bytes.toString()}`);
  return { ms: performance.now() - t, ttfbMs, serverMs: Number(response.headers.get('x-processing-time-ms')), cache: response.headers.get('x-cache'), bytes: bytes.length };
}

async function hits(body, query) {
  await post(body, {}, query);
  await app.petcut.processing.drain();
  const runs = [];
  for (let i = 0; i < 20; i++) {
    const hit = await post(body, {}, query);
    if (hit.cache !== 'HIT') throw new Error(`expected a cache hit, got ${hit.cache}`);
    runs.push(hit);
  }
  const pick = (k) => runs.map((r) => r[k]);
  return { responseMb: +(runs[0].bytes / 1e6).toFixed(2), serverMedianMs: round1(median(pick('serverMs'))), ttfbMedianMs: round1(median(pick('ttfbMs'))), fullMedianMs: round1(median(pick('ms'))), fullP95Ms: round1(p95(pick('ms'))) };
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
/** /healthz every 50 ms while `count` cut-outs run one after the other: its latency when the engine is busy. */
async function healthzDuringCutouts(count) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    let done = false;
    const work = post(unique()).finally(() => (done = true));
    while (engine.inFlight() === 0 && !done) await new Promise((resolve) => setTimeout(resolve, 5));
    while (!done) {
      const t = performance.now();
      const response = await fetch(`${address}/healthz`);
      await response.arrayBuffer();
      if (!done) samples.push(performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await work;
    await app.petcut.processing.drain();
  }
  return { samples: samples.length, p50: round1(median(samples)), p95: round1(p95(samples)), max: round1(Math.max(...samples)), under250: samples.every((ms) => ms < 250) };
}
const healthzDuringCutoutMs = await healthzDuringCutouts(3);
const hitFull = await hits(unique(), '');
const hitPreview = await hits(unique(), '?size=preview');
const engineMedian = median(engineMs), serviceMedian = median(serviceMs), sessionMedian = median(sessionMs);
console.log(JSON.stringify({
  runs,
  engineAloneMs: round1(engineMedian),
  serviceMs: round1(serviceMedian),
  serviceWithSessionStoreMs: round1(sessionMedian),
  overheadShare: +((serviceMedian - engineMedian) / serviceMedian).toFixed(4),
  overheadShareWithSessionStore: +((sessionMedian - engineMedian) / sessionMedian).toFixed(4),
  cacheHitFullPng: hitFull,
  cacheHitPreviewPng: hitPreview,
  healthzDuringCutoutMs,
  peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
}));
await app.shutdown();
rmSync(dir, { recursive: true, force: true });
