import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadEngineConfig } from '../src/engine/config.js';
import { describeModel } from '../src/engine/engine.js';

describe('config', () => {
  it('uses embedded defaults when nothing is set', () => {
    const config = loadEngineConfig({});
    expect(config.model).toBe('isnet');
    expect(config.device).toBe('auto');
    expect(config.maxPixels).toBe(4096 * 4096);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('rejects a bad value with a message naming the variable', () => {
    expect(() => loadEngineConfig({ PETCUT_DEVICE: 'tpu' })).toThrow(/PETCUT_DEVICE/);
    expect(() => loadEngineConfig({ PETCUT_THREADS: 'many' })).toThrow(/PETCUT_THREADS/);
    expect(() => loadEngineConfig({ PETCUT_MODEL_MEAN: '1,2' })).toThrow(/PETCUT_MODEL_MEAN/);
  });

  it('describes a custom ONNX model from env', () => {
    const config = loadEngineConfig({ PETCUT_MODEL: '/models/birefnet.onnx', PETCUT_MODEL_INPUT_SIZE: '512', PETCUT_MODEL_MEAN: '123.7,116.3,103.5', PETCUT_MODEL_OUTPUT_NAME: 'mask' });
    const model = describeModel(config);
    expect(model.source).toEqual({ kind: 'file', path: '/models/birefnet.onnx' });
    expect(model.inputSize).toBe(512);
    expect(model.mean).toEqual([123.7, 116.3, 103.5]);
    expect(model.outputName).toBe('mask');
  });

  it('an unknown model name lists the known ones', () => {
    expect(() => describeModel(loadEngineConfig({ PETCUT_MODEL: 'u2net' }))).toThrow(/isnet, isnet-fp16, isnet-quint8/);
  });

  it('.env.example documents exactly the variables config.ts reads', async () => {
    const source = (await readFile(new URL('../src/config.ts', import.meta.url), 'utf8')) + (await readFile(new URL('../src/engine/config.ts', import.meta.url), 'utf8'))
      + (await readFile(new URL('../src/security/config.ts', import.meta.url), 'utf8')) + (await readFile(new URL('../src/cost/config.ts', import.meta.url), 'utf8'));
    const example = await readFile(new URL('../.env.example', import.meta.url), 'utf8');
    const read = new Set([...source.matchAll(/\b(PETCUT_[A-Z_]+|PORT|REDIS_URL):/g)].map((m) => m[1]));
    const documented = new Set([...example.matchAll(/^#?\s*(PETCUT_[A-Z_]+|PORT|REDIS_URL)=/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual([...read].sort());
  });
});

describe('fp16 -> fp32 widening', () => {
  it('converts halves exactly, subnormals and specials included', async () => {
    const { halfToFloat } = await import('../src/inference/fp32.js');
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.33325, 5);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
  });
});

describe('service config', () => {
  it('runs on embedded defaults: port 8080, local disk, bounded queue', async () => {
    const { loadServiceConfig } = await import('../src/config.js');
    const config = loadServiceConfig({});
    expect(config.port).toBe(8080);
    expect(config.storage.kind).toBe('fs');
    expect(config.storage.root).toMatch(/data$/);
    expect(config.bodyLimitBytes).toBe(30 * 1024 * 1024);
    expect(config.queueMax).toBeGreaterThan(0);
    expect(config.concurrency).toBeGreaterThanOrEqual(2);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names the bad variable, and requires a bucket for cloud storage', async () => {
    const { loadServiceConfig } = await import('../src/config.js');
    expect(() => loadServiceConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadServiceConfig({ PETCUT_STORAGE: 'ftp' })).toThrow(/PETCUT_STORAGE/);
    expect(() => loadServiceConfig({ PETCUT_SIGNED_URLS: 'yes please' })).toThrow(/PETCUT_SIGNED_URLS/);
    expect(() => loadServiceConfig({ PETCUT_STORAGE: 's3' })).toThrow(/PETCUT_BUCKET/);
    expect(loadServiceConfig({ PETCUT_STORAGE: 's3', PETCUT_BUCKET: 'b', PETCUT_S3_ENDPOINT: 'http://127.0.0.1:9000' }).storage.endpoint).toBe('http://127.0.0.1:9000');
  });
});
