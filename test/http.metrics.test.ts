import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { loadServiceConfig } from '../src/config.js';
import { createGpuProbe, parseNvidiaSmi } from '../src/observability/gpu.js';
import { createMetrics } from '../src/observability/metrics.js';
import { cudaAvailability } from '../src/inference/runtime.js';
import type { ObjectStore } from '../src/storage/index.js';
import { buildApp, controlledStore, failingPuts, photo, startEngine } from './support/app.js';
import type { ControlledStore } from './support/app.js';
import { until } from './support/wait.js';

/**
 * GET /metrics: the names deploy/prometheus/METRICS.md promises, filled by
 * real requests, in a format promtool accepts, and a scrape that does not
 * wait for the work in progress.
 */
let engine: Engine;
let app: PetcutApp;
let control: ControlledStore;
let failPuts = false;

beforeAll(async () => {
  engine = await startEngine();
  const wrapStore = (inner: ObjectStore) => (control = controlledStore(failingPuts(() => failPuts)(inner))).store;
  app = (await buildApp(engine, { wrapStore, env: { PETCUT_RATE_LIMIT_WARMUP_PER_HOUR: '1' } })).app;
});

afterAll(async () => {
  await app?.petcut.processing.drain();
  await app?.close();
  await engine?.close();
});

const scrape = async (): Promise<string> => {
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.body;
};

/** The value of one sample, by metric name and exact label set as printed. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const upload = (data: Buffer, url = '/v1/cutouts?size=48') => app.inject({ method: 'POST', url, headers: { 'content-type': 'image/jpeg' }, payload: data });

describe('GET /metrics', () => {
  it('counts requests by route template, status and code, with the processing and cache outcomes', async () => {
    const image = await photo(96, 72, 'jpeg', 3);
    expect((await upload(image)).statusCode).toBe(200);
    expect((await upload(image)).headers['x-cache']).toBe('HIT');
    expect((await upload(Buffer.from('plain text, not a photo'))).statusCode).toBe(415);
    expect((await app.inject({ method: 'GET', url: '/v1/jobs/00000000-0000-4000-8000-000000000000' })).statusCode).toBe(404);
    const text = await scrape();
    expect(sample(text, 'petcut_http_requests_total{route="/v1/cutouts",method="POST",status="200",code=""}')).toBe(2);
    expect(sample(text, 'petcut_http_requests_total{route="/v1/cutouts",method="POST",status="415",code="PETCUT_E_UNSUPPORTED_FORMAT"}')).toBe(1);
    // Route templates, never raw ids: label values stay bounded.
    expect(sample(text, 'petcut_http_requests_total{route="/v1/jobs/:jobId",method="GET",status="404",code="PETCUT_E_JOB_NOT_FOUND"}')).toBe(1);
    expect(text).not.toContain('00000000-0000-4000');
    expect(sample(text, 'petcut_http_request_duration_seconds_bucket{le="60",route="/v1/cutouts",method="POST"}')).toBe(3);
    expect(sample(text, 'petcut_images_total{outcome="success"}')).toBe(2);
    expect(sample(text, 'petcut_cache_requests_total{result="miss"}')).toBe(1);
    expect(sample(text, 'petcut_cache_requests_total{result="hit"}')).toBe(1);
    // The first inference of the instance is the cold one.
    expect(sample(text, 'petcut_processing_duration_seconds_count{cold="true"}')).toBe(1);
    expect(sample(text, 'petcut_processing_duration_seconds_count{cold="false"}')).toBe(1);
    expect(sample(text, 'petcut_cold_served_requests_total')).toBe(1);
    expect(sample(text, 'petcut_processing_stage_duration_seconds_count{stage="segmentation"}')).toBe(1);
    expect(sample(text, 'petcut_queue_wait_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'petcut_cold_starts_total')).toBe(1);
    expect(sample(text, 'petcut_cold_start_seconds')).toBeGreaterThan(0);
    expect(sample(text, `petcut_model_info{model="isnet",device="${engine.runtime.device}"}`)).toBe(1);
    expect(sample(text, 'petcut_memory_limit_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'petcut_queue_depth')).toBe(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
  });

  it('counts storage errors and warm-ups', async () => {
    failPuts = true;
    try {
      const response = await upload(await photo(96, 72, 'jpeg', 9), '/v1/cutouts?size=48');
      expect(response.statusCode).toBe(200);
      const stored = await app.inject({ method: 'POST', url: '/v1/sessions/metrics-session-1/images', headers: { 'content-type': 'image/jpeg' }, payload: await photo(64, 48) });
      expect(stored.statusCode).toBe(503);
    } finally {
      failPuts = false;
    }
    await app.petcut.processing.drain();
    expect((await app.inject({ method: 'POST', url: '/warmup' })).statusCode).toBe(200);
    const text = await scrape();
    expect(sample(text, 'petcut_storage_errors_total{operation="put"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'petcut_http_requests_total{route="/v1/sessions/:sessionId/images",method="POST",status="503",code="PETCUT_E_STORAGE_UNAVAILABLE"}')).toBe(1);
    // The cut-outs before it already ran the model on this instance: nothing to warm.
    expect(sample(text, 'petcut_warmups_total{result="already_warm"}')).toBe(1);
  });

  it('answers while an image is being processed (a scrape never waits for work)', async () => {
    // The image is held at its cache lookup (its room reserved), so it is unfinished, for certain, while the scrape
    // runs. How long a scrape takes is measured by `npm run bench -- observability` (scrape).
    const image = await photo(1600, 1200, 'jpeg', 17);
    const release = control.hold((op, key) => op === 'get' && key.startsWith('cache/alias/'));
    const callsBefore = control.calls.length;
    let finished = false;
    const working = upload(image, '/v1/cutouts').finally(() => (finished = true));
    try {
      await until(() => control.calls.slice(callsBefore).some((c) => c.op === 'get' && c.key.startsWith('cache/alias/')), 'the upload to reach its cache lookup');
      const text = await scrape();
      expect(finished).toBe(false);
      expect(sample(text, 'petcut_images_in_flight')).toBe(1);
    } finally {
      release();
    }
    expect((await working).statusCode).toBe(200);
  });

  it('passes promtool check metrics (Prometheus naming conventions)', async () => {
    const text = await scrape();
    const result = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('error', (error) => reject(new Error(`promtool is needed (Debian package prometheus): ${error.message}`)));
      child.on('close', (code) => resolve({ code, output }));
      child.stdin.end(text);
    });
    // Only our own metrics are judged: prom-client's default process/nodejs metrics are upstream's.
    const ours = result.output.split('\n').filter((line) => line.startsWith('petcut_'));
    expect(ours, result.output).toEqual([]);
  });
});

/** The sample lines of Prometheus text (not # HELP / # TYPE, not blank). */
const samples = (text: string): string[] => text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
const withRevision = (revision: string): RegExp => new RegExp(`^[a-zA-Z_:][a-zA-Z0-9_:]*\\{(.*,)?revision="${revision}"[,}]`);
const PACKAGE_VERSION = (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('the Cloud Run revision on every series', () => {
  it('with a revision every sample carries it, the defaults (process_, nodejs_) included', async () => {
    const metrics = createMetrics({ revision: 'petcut-production-v42', service: 'petcut-production', version: '1.2.3' });
    metrics.httpRequests.inc({ route: '/v1/cutouts', method: 'POST', status: '200', code: '' });
    metrics.httpDuration.observe({ route: '/v1/cutouts', method: 'POST' }, 0.3);
    const lines = samples(await metrics.registry.metrics());
    expect(lines.filter((line) => line.startsWith('process_')).length).toBeGreaterThan(0);
    expect(lines.filter((line) => line.startsWith('nodejs_')).length).toBeGreaterThan(0);
    expect(lines.filter((line) => !withRevision('petcut-production-v42').test(line))).toEqual([]);
    expect(lines).toContain('petcut_build_info{revision="petcut-production-v42",service="petcut-production",version="1.2.3"} 1');
    expect(lines).toContain('petcut_http_request_duration_seconds_bucket{le="0.5",revision="petcut-production-v42",route="/v1/cutouts",method="POST"} 1');
  });

  it('without one (a local run) no sample has a revision label; build info has the version alone', async () => {
    const lines = samples(await createMetrics({ version: '1.2.3' }).registry.metrics());
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.filter((line) => line.includes('revision='))).toEqual([]);
    expect(lines).toContain('petcut_build_info{version="1.2.3"} 1');
  });

  it('the app takes K_REVISION and K_SERVICE from the environment, and the version from package.json', async () => {
    const { app: onCloudRun } = await buildApp(engine, { env: { K_REVISION: 'petcut-staging-00042-abc', K_SERVICE: 'petcut-staging', K_CONFIGURATION: 'petcut-staging' } });
    try {
      expect((await onCloudRun.inject({ method: 'POST', url: '/v1/cutouts?size=48', headers: { 'content-type': 'image/jpeg' }, payload: await photo(96, 72, 'jpeg', 21) })).statusCode).toBe(200);
      const lines = samples((await onCloudRun.inject({ method: 'GET', url: '/metrics' })).body);
      expect(lines.some((line) => line.startsWith('petcut_http_requests_total{'))).toBe(true);
      expect(lines.filter((line) => !withRevision('petcut-staging-00042-abc').test(line))).toEqual([]);
      expect(lines).toContain(`petcut_build_info{revision="petcut-staging-00042-abc",service="petcut-staging",version="${PACKAGE_VERSION}"} 1`);
    } finally {
      await onCloudRun.petcut.processing.drain();
      await onCloudRun.close(); // not shutdown(): the engine is shared
    }
    // The app above (no K_* set) stays as local runs always were.
    const local = samples(await scrape());
    expect(local.filter((line) => line.includes('revision='))).toEqual([]);
    expect(local).toContain(`petcut_build_info{version="${PACKAGE_VERSION}"} 1`);
  });

  it('a K_REVISION that is no Cloud Run name stops the start-up, naming the variable', () => {
    expect(() => loadServiceConfig({ K_REVISION: 'Not A Revision' })).toThrow(/K_REVISION: must be a Cloud Run name/);
    expect(loadServiceConfig({}).build.revision).toBeUndefined();
  });
});

describe('GPU metrics', () => {
  it('without nvidia-smi: /health says "no GPU" and no GPU samples are exported', async () => {
    // A probe for a tool that is not there, so this holds on a GPU host too (where the real nvidia-smi answers).
    const gpuProbe = createGpuProbe({ command: 'petcut-test-no-such-nvidia-smi' });
    await until(() => gpuProbe.state() !== 'starting', 'the GPU probe\'s first reading');
    const { app: noGpu } = await buildApp(engine, { gpuProbe });
    try {
      const health = await noGpu.inject({ method: 'GET', url: '/health' });
      expect(health.json<{ gpu: { state: string; devices: unknown[] } }>().gpu).toEqual({ state: 'no GPU (nvidia-smi not found)', devices: [] });
      const text = (await noGpu.inject({ method: 'GET', url: '/metrics' })).body;
      expect(text).not.toMatch(/^petcut_gpu_utilization_ratio\{/m);
    } finally {
      await noGpu.close(); // not shutdown(): the engine is shared
      gpuProbe.close();
    }
  });

  it('reads nvidia-smi\'s CSV into utilisation and memory per GPU', async () => {
    // "[N/A]" (a MIG instance's utilisation) is no reading of that value, not of the whole GPU: the rest of the line counts.
    expect(parseNvidiaSmi('0, NVIDIA H200, 37, 1024, 143771\n1, NVIDIA H200, [N/A], 0, 143771\n')).toEqual([
      { index: '0', name: 'NVIDIA H200', utilization: 0.37, memoryUsedBytes: 1024 * 1024 * 1024, memoryTotalBytes: 143771 * 1024 * 1024 },
      { index: '1', name: 'NVIDIA H200', utilization: null, memoryUsedBytes: 0, memoryTotalBytes: 143771 * 1024 * 1024 },
    ]);
    // A tool that exists but fails is a reading error, not "no GPU".
    const failing = createGpuProbe({ command: 'false' });
    try {
      await until(() => failing.state() !== 'starting', 'the failing tool\'s first reading');
      expect(failing.state()).toMatch(/^no reading: /);
      expect(failing.readings()).toEqual([]);
    } finally {
      failing.close();
    }
  });
});

describe('GPU fallback and readings, end to end', () => {
  it('an engine that wanted the GPU and runs on the CPU says so in /health and counts it once in /metrics', async () => {
    // The test engine asks for `auto` (support/env.ts). Where no CUDA provider or NVIDIA device is (this machine,
    // CI), that is an explicit fallback; on a GPU host with the provider installed there is none to show.
    const cuda = cudaAvailability();
    expect(engine.runtime.requestedDevice).toBe('auto');
    const expected = cuda.available ? undefined : { from: 'cuda', to: 'cpu', reason: 'unavailable', detail: cuda.reason };
    expect(engine.runtime.fallback).toEqual(expected);
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect(health.json<{ device: unknown }>().device).toEqual({ kind: engine.runtime.device, reason: engine.runtime.deviceReason, requested: 'auto', fallback: expected ?? null });
    const text = await scrape();
    if (expected) {
      expect(engine.runtime.device).toBe('cpu');
      expect(sample(text, 'petcut_device_fallbacks_total{from="cuda",to="cpu",reason="unavailable"}')).toBe(1);
      expect(text).not.toMatch(/^petcut_device_fallbacks_total\{[^}]*reason="failed"/m);
    } else {
      expect(text).not.toMatch(/^petcut_device_fallbacks_total\{/m);
    }
    // Counted at the load, not at a scrape: a second scrape shows the same one.
    expect(sample(await scrape(), 'petcut_device_fallbacks_total{from="cuda",to="cpu",reason="unavailable"}')).toBe(expected ? 1 : undefined);
  });

  it('nvidia-smi on PATH (two GPUs, one reporting "[N/A]"): temperature, power, memory and utilisation reach /metrics and /health', async () => {
    // A stand-in for the tool, printing what nvidia-smi prints for this query (csv,noheader,nounits), and refusing
    // a query without the temperature and power columns as the real tool refuses fields it does not know.
    const bin = await mkdtemp(join(tmpdir(), 'petcut-nvidia-smi-'));
    const script = join(bin, 'nvidia-smi');
    await writeFile(script, [
      '#!/bin/sh',
      'case "$*" in *--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw*--format=csv,noheader,nounits*) ;;',
      '  *) echo "Field is not a valid field to query: $*" >&2; exit 2 ;; esac',
      "printf '0, NVIDIA H200, 37, 1024, 143771, 41, 118.52\\n1, NVIDIA H200, [N/A], 512, 143771, 38, [Not Supported]\\n'",
      '',
    ].join('\n'));
    await chmod(script, 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${path ?? ''}`;
    // The app's own probe (no test probe given): it finds the tool through PATH, as in the gpu image.
    const { app: gpuApp } = await buildApp(engine);
    try {
      await until(() => gpuApp.petcut.gpu.state() !== 'starting', 'the GPU probe\'s first reading');
      expect(gpuApp.petcut.gpu.state()).toBe('ok');
      const text = (await gpuApp.inject({ method: 'GET', url: '/metrics' })).body;
      const gpu0 = '{gpu="0",name="NVIDIA H200"}';
      const gpu1 = '{gpu="1",name="NVIDIA H200"}';
      expect(sample(text, `petcut_gpu_temperature_celsius${gpu0}`)).toBe(41);
      expect(sample(text, `petcut_gpu_temperature_celsius${gpu1}`)).toBe(38);
      expect(sample(text, `petcut_gpu_power_watts${gpu0}`)).toBe(118.52);
      expect(sample(text, `petcut_gpu_utilization_ratio${gpu0}`)).toBe(0.37);
      expect(sample(text, `petcut_gpu_memory_used_bytes${gpu1}`)).toBe(512 * 1024 * 1024);
      expect(sample(text, `petcut_gpu_memory_total_bytes${gpu1}`)).toBe(143771 * 1024 * 1024);
      // No value reported, no sample: never a made-up 0.
      expect(sample(text, `petcut_gpu_utilization_ratio${gpu1}`)).toBeUndefined();
      expect(sample(text, `petcut_gpu_power_watts${gpu1}`)).toBeUndefined();
      const health = (await gpuApp.inject({ method: 'GET', url: '/health' })).json<{ gpu: unknown }>();
      expect(health.gpu).toEqual({ state: 'ok', devices: [
        { index: '0', name: 'NVIDIA H200', utilization: 0.37, memoryUsedMb: 1024, memoryTotalMb: 143771, temperatureC: 41, powerW: 118.52 },
        { index: '1', name: 'NVIDIA H200', utilization: null, memoryUsedMb: 512, memoryTotalMb: 143771, temperatureC: 38, powerW: null },
      ] });
    } finally {
      await gpuApp.close(); // not shutdown(): the engine is shared
      process.env.PATH = path;
      await rm(bin, { recursive: true, force: true });
    }
  });
});
