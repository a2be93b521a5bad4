import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/observability/metrics.js';
import type { MetricSources } from '../src/observability/metrics.js';
import { NVIDIA_SMI_FIELDS, parseNvidiaSmi } from '../src/observability/gpu.js';
import type { GpuReading } from '../src/observability/gpu.js';
import { createKpiRecorder, MINUTE_MS } from '../src/observability/kpis.js';
import type { KpiSample } from '../src/observability/kpis.js';

/**
 * nvidia-smi's CSV as the tool prints it for petcut's query
 * (`--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw
 * --format=csv,noheader,nounits`): several GPUs, the bracketed "no value" cells, lines that are no
 * GPU at all; then the readings through the metrics registry and the dashboard's per-minute KPI.
 * The end to end run through a stand-in nvidia-smi on PATH and GET /metrics is in http.metrics.test.ts
 * (it needs the app, whose engine that file already loads).
 */
const MIB = 1024 * 1024;

describe('parseNvidiaSmi', () => {
  it('asks for the columns it reads, in that order', () => {
    expect(NVIDIA_SMI_FIELDS).toEqual(['index', 'name', 'utilization.gpu', 'memory.used', 'memory.total', 'temperature.gpu', 'power.draw']);
  });

  it('reads several GPUs, each value on its own', () => {
    const csv = [
      '0, NVIDIA L4, 42, 3072, 23034, 61, 38.72',
      '1, NVIDIA H200, 0, 0, 143771, 27, 75.10',
      '2, NVIDIA A100-SXM4-80GB, [N/A], 1024, 81920, 33, 61.02',
      '3, NVIDIA GH200 480GB, 5, [N/A], [N/A], [N/A], [Not Supported]',
      '',
    ].join('\n');
    expect(parseNvidiaSmi(csv)).toEqual([
      { index: '0', name: 'NVIDIA L4', utilization: 0.42, memoryUsedBytes: 3072 * MIB, memoryTotalBytes: 23034 * MIB, temperatureC: 61, powerW: 38.72 },
      { index: '1', name: 'NVIDIA H200', utilization: 0, memoryUsedBytes: 0, memoryTotalBytes: 143771 * MIB, temperatureC: 27, powerW: 75.1 },
      // A MIG-enabled GPU reports no utilisation; the rest of its line still counts.
      { index: '2', name: 'NVIDIA A100-SXM4-80GB', utilization: null, memoryUsedBytes: 1024 * MIB, memoryTotalBytes: 81920 * MIB, temperatureC: 33, powerW: 61.02 },
      { index: '3', name: 'NVIDIA GH200 480GB', utilization: 0.05, memoryUsedBytes: null, memoryTotalBytes: null, temperatureC: null, powerW: null },
    ]);
  });

  it('every bracketed cell nvidia-smi prints for "no value" is null, never 0', () => {
    for (const cell of ['[N/A]', '[Not Supported]', '[Unknown Error]', '[Insufficient Permissions]', '[GPU requires reset]', 'n/a', '']) {
      const [reading] = parseNvidiaSmi(`0, NVIDIA H200, ${cell}, ${cell}, ${cell}, ${cell}, ${cell}\n`);
      expect(reading, cell).toEqual({ index: '0', name: 'NVIDIA H200', utilization: null, memoryUsedBytes: null, memoryTotalBytes: null, temperatureC: null, powerW: null });
    }
  });

  it('lines that are no GPU are left out: an error line, a header, Windows line ends', () => {
    const csv = 'index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], temperature.gpu, power.draw [W]\r\n'
      + 'Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error\r\n'
      + '0, NVIDIA H200, 100, 120000, 143771, 74, 690.31\r\n'
      + 'No devices were found\r\n';
    expect(parseNvidiaSmi(csv)).toEqual([
      { index: '0', name: 'NVIDIA H200', utilization: 1, memoryUsedBytes: 120000 * MIB, memoryTotalBytes: 143771 * MIB, temperatureC: 74, powerW: 690.31 },
    ]);
    expect(parseNvidiaSmi('No devices were found\n')).toEqual([]);
  });

  it('a line of the older five-column query has no temperature or power at all (absent, not null)', () => {
    const [reading] = parseNvidiaSmi('0, NVIDIA L4, 42, 3072, 23034\n');
    expect(reading).toEqual({ index: '0', name: 'NVIDIA L4', utilization: 0.42, memoryUsedBytes: 3072 * MIB, memoryTotalBytes: 23034 * MIB });
    expect(reading && 'temperatureC' in reading).toBe(false);
  });
});

const sources = (gpus: readonly GpuReading[]): MetricSources => ({
  queue: () => ({ queued: 0, inFlight: 0 }), jobsActive: () => 0, memory: () => undefined, model: () => undefined,
  rateLimits: () => ({ rejected: {}, backend: 'memory' }), cost: () => undefined, gpus: () => gpus,
});

describe('the GPU gauges', () => {
  it('one sample per GPU and value; a value the GPU does not report has no sample', async () => {
    const metrics = createMetrics();
    metrics.bind(sources(parseNvidiaSmi('0, NVIDIA H200, 37, 1024, 143771, 41, 118.52\n1, NVIDIA H200, [N/A], 512, 143771, [N/A], [Not Supported]\n')));
    const text = await metrics.registry.metrics();
    const lines = (name: string): string[] => text.split('\n').filter((line) => line.startsWith(`${name}{`));
    expect(lines('petcut_gpu_temperature_celsius')).toEqual(['petcut_gpu_temperature_celsius{gpu="0",name="NVIDIA H200"} 41']);
    expect(lines('petcut_gpu_power_watts')).toEqual(['petcut_gpu_power_watts{gpu="0",name="NVIDIA H200"} 118.52']);
    expect(lines('petcut_gpu_utilization_ratio')).toEqual(['petcut_gpu_utilization_ratio{gpu="0",name="NVIDIA H200"} 0.37']);
    expect(lines('petcut_gpu_memory_used_bytes')).toEqual([
      `petcut_gpu_memory_used_bytes{gpu="0",name="NVIDIA H200"} ${1024 * MIB}`,
      `petcut_gpu_memory_used_bytes{gpu="1",name="NVIDIA H200"} ${512 * MIB}`,
    ]);
    expect(text).toMatch(/^# TYPE petcut_gpu_temperature_celsius gauge$/m);
    expect(text).toMatch(/^# TYPE petcut_device_fallbacks_total counter$/m);
  });

  it('the GPU going away between polls takes its samples with it (no stale temperature)', async () => {
    let gpus = parseNvidiaSmi('0, NVIDIA L4, 10, 100, 23034, 50, 30\n');
    const metrics = createMetrics();
    metrics.bind({ ...sources([]), gpus: () => gpus });
    expect(await metrics.registry.metrics()).toMatch(/^petcut_gpu_temperature_celsius\{gpu="0",name="NVIDIA L4"\} 50$/m);
    gpus = [];
    expect(await metrics.registry.metrics()).not.toMatch(/^petcut_gpu_temperature_celsius\{/m);
  });
});

describe('the dashboard KPI: hottest GPU per minute', () => {
  it('the highest temperature of all GPUs and samples in the minute; null without a reported one', () => {
    let t = Date.UTC(2026, 11, 1, 12, 0, 0);
    let gpus: KpiSample['gpus'] = parseNvidiaSmi('0, NVIDIA H200, 30, 100, 143771, 55, 200\n1, NVIDIA H200, [N/A], 100, 143771, 63, 210\n');
    const kpis = createKpiRecorder({ now: () => t, sampler: () => ({ queued: 0, inFlight: 0, gpus }), sampleMs: 3_600_000 });
    kpis.sample();
    gpus = parseNvidiaSmi('0, NVIDIA H200, 90, 100, 143771, 58, 300\n');
    kpis.sample();
    t += MINUTE_MS;
    gpus = parseNvidiaSmi('0, NVIDIA H200, 5, 100, 143771, [N/A], [N/A]\n');
    kpis.sample();
    const { series } = kpis.window(2);
    expect(series.gpuTemperatureC).toEqual([63, null]);
    // The MIG line's "[N/A]" utilisation neither counts as 0 nor hides the other GPU's reading.
    expect(series.gpuUtilization).toEqual([0.9, 0.05]);
    kpis.close();
  });
});
