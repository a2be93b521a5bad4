import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadEngineConfig } from '../src/engine/config.js';
import { describeModel } from '../src/engine/engine.js';

const read = async (path: string): Promise<string> => readFile(new URL(path, import.meta.url), 'utf8');
const VARIABLE = String.raw`PETCUT_[A-Z0-9_]+|PORT|REDIS_URL`; // digits too: PETCUT_S3_*

/** The variables the config schemas read: their `NAME:` keys. */
async function schemaVariables(): Promise<string[]> {
  const sources = await Promise.all(['../src/config.ts', '../src/engine/config.ts', '../src/security/config.ts', '../src/cost/config.ts'].map(read));
  return [...new Set([...sources.join('\n').matchAll(new RegExp(String.raw`\b(${VARIABLE}):`, 'g'))].map((m) => m[1]!))].sort();
}

/** The variables .env.example documents, each with the value it shows ('' when none). */
async function exampleValues(): Promise<Map<string, string>> {
  const example = await read('../.env.example');
  return new Map([...example.matchAll(new RegExp(String.raw`^#?\s*(${VARIABLE})=(.*)$`, 'gm'))].map((m) => [m[1]!, m[2]!.trim()]));
}

/** docs/configuration.md's table (`| variable | default | meaning |`): variable -> default cell. */
async function documentedDefaults(): Promise<Map<string, string>> {
  const lines = (await read('../docs/configuration.md')).split('\n');
  const header = lines.findIndex((line) => /^\|\s*variable\s*\|\s*default\s*\|\s*meaning\s*\|\s*$/.test(line));
  expect(header, 'docs/configuration.md has a "| variable | default | meaning |" table').toBeGreaterThanOrEqual(0);
  const rows = new Map<string, string>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    expect(cells, `three cells (no "|" inside one): ${line}`).toHaveLength(3);
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0]!)?.[1];
    expect(name, `one variable per row, in backticks: ${line}`).toBeDefined();
    expect(rows.has(name!), `${name} is listed once`).toBe(false);
    rows.set(name!, cells[1]!);
  }
  return rows;
}

// .env.example shows an example value for these, not the default (which is unset, or depends on the machine).
const EXAMPLE_NOT_DEFAULT = new Set(['PETCUT_PUBLIC_URL', 'REDIS_URL', 'PETCUT_CONCURRENCY', 'PETCUT_THREADS']);

/** Whether a default cell states the value: as a whole word (backticks and case aside), so "5" does not pass for "50". */
function statesValue(cell: string, value: string): boolean {
  const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(String.raw`(^|[\s(,;])${escaped}($|[\s),;])`, 'i').test(cell.replace(/`/g, '').trim());
}

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
    expect(() => describeModel(loadEngineConfig({ PETCUT_MODEL: 'u2net' }))).toThrow(/isnet, isnet-fp16, isnet-int8, isnet-quint8/);
  });

  it('.env.example documents exactly the variables config.ts reads', async () => {
    expect([...(await exampleValues()).keys()].sort()).toEqual(await schemaVariables());
  });

  it('docs/configuration.md lists exactly those variables, with .env.example\'s defaults', async () => {
    const documented = await documentedDefaults();
    expect([...documented.keys()].sort()).toEqual(await schemaVariables());
    const disagreeing = [...(await exampleValues())]
      .filter(([name, value]) => value !== '' && !EXAMPLE_NOT_DEFAULT.has(name))
      .filter(([name, value]) => !statesValue(documented.get(name) ?? '', value))
      .map(([name, value]) => `${name}: .env.example shows "${value}", docs/configuration.md says "${documented.get(name)}"`);
    expect(disagreeing).toEqual([]);
  });

  it('the default check catches a default that disagrees', () => {
    expect(statesValue('`5`', '5')).toBe(true);
    expect(statesValue('`10` (at most concurrency + queue)', '10')).toBe(true);
    expect(statesValue('`128,128,128` (ISNet\'s)', '128,128,128')).toBe(true);
    expect(statesValue('`50`', '5')).toBe(false);
    expect(statesValue('the cores, clamped to 2-4', '2')).toBe(false);
    expect(statesValue('`first-frame`', 'reject')).toBe(false);
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
