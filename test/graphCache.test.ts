import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cpuFeatures, graphCacheEntry, ortVersion } from '../src/inference/graphCache.js';
import { CLASS_MODELS, classModelPath } from '../src/inference/models.js';
import type { ModelDescription } from '../src/inference/models.js';
import { createRuntime } from '../src/inference/runtime.js';
import type { InferenceRuntime } from '../src/inference/runtime.js';

// The optimized-graph cache with the real ONNX Runtime, on the small vendored detector (3.7 MB, 416 x 416)
// standing in for the main model: the same worker code path as ISNet, a fraction of the time.
const detector = CLASS_MODELS.detector;
const model: ModelDescription = {
  name: 'detector-as-main', description: 'test', source: { kind: 'file', path: classModelPath(detector) },
  inputSize: 416, mean: [0, 0, 0], std: [1, 1, 1], inputName: detector.inputName, outputName: detector.outputName,
  outputRange: 'minmax', license: 'Apache-2.0',
};
const identity = detector.sha256;

// onnxruntime-node cannot be loaded again in a process once the worker that loaded it has exited:
// every runtime stays open until the end.
const open: InferenceRuntime[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(open.map((runtime) => runtime.close()));
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function start(dir: string | undefined, log: string[] = []): Promise<InferenceRuntime> {
  const runtime = await createRuntime({
    modelPath: classModelPath(detector), model, device: 'cpu', threads: 1,
    graphCache: dir === undefined ? undefined : { dir, identity }, warmUp: false, log: (line) => log.push(line),
  });
  open.push(runtime);
  return runtime;
}

const input = (): Float32Array => {
  const data = new Float32Array(3 * 416 * 416);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 255;
  return data;
};

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'petcut-graph-'));
  dirs.push(dir);
  return dir;
}

describe('the cache key', () => {
  const cpuinfo = (flags: string) => () => `processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: ${flags}\n\nprocessor\t: 1\nflags\t\t: ${flags}\n`;

  it('keeps only the instruction-set flags, sorted: mitigations and virtualisation flags do not change it', () => {
    expect(cpuFeatures(cpuinfo('fpu avx2 sse4_2 hypervisor md_clear avx512f fma avx512_vnni amx_int8'))).toBe('amx_int8 avx2 avx512_vnni avx512f fma sse4_2');
    expect(cpuFeatures(cpuinfo('avx2 fma md_clear'))).toBe(cpuFeatures(cpuinfo('fma avx2 hypervisor')));
    // Arm's line is called Features.
    expect(cpuFeatures(() => 'processor\t: 0\nFeatures\t: fp asimd evtstrm sve\n')).toBe('asimd sve');
    // No /proc: the CPU's model name.
    expect(cpuFeatures(() => { throw new Error('ENOENT'); })).not.toBe('');
  });

  it('names a different file for another CPU, model, provider or directory; the same one for the same inputs', () => {
    const base = graphCacheEntry('/c', '/m/isnet-abc.onnx', 'id1', 'cpu', 'avx2 fma');
    expect(base.path).toMatch(/^\/c\/optimized\/isnet-abc\.cpu-[0-9a-f]{16}\.onnx$/);
    expect(graphCacheEntry('/c', '/m/isnet-abc.onnx', 'id1', 'cpu', 'avx2 fma')).toEqual(base);
    for (const other of [
      graphCacheEntry('/c', '/m/isnet-abc.onnx', 'id1', 'cpu', 'avx2 avx512f fma'),
      graphCacheEntry('/c', '/m/isnet-abc.onnx', 'id2', 'cpu', 'avx2 fma'),
      graphCacheEntry('/c', '/m/isnet-abc.onnx', 'id1', 'cuda', 'avx2 fma'),
      graphCacheEntry('/d', '/m/isnet-abc.onnx', 'id1', 'cpu', 'avx2 fma'),
    ]) expect(other.path).not.toBe(base.path);
    expect(ortVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('sessions through the cache (real ONNX Runtime)', () => {
  it('optimizes and saves once, loads the saved graph next time, and both compute the same output as no cache', async () => {
    const dir = await tempDir();
    const plain = await start(undefined);
    expect(plain.info.graph).toBe('off');
    const first = await start(dir);
    expect(first.info.graph).toBe('saved');
    const files = await readdir(join(dir, 'optimized'));
    // One complete file, no partial left behind.
    expect(files).toEqual([graphCacheEntry(dir, classModelPath(detector), identity, 'cpu').path.split('/').pop()]);
    expect((await stat(join(dir, 'optimized', files[0]!))).size).toBeGreaterThan(1_000_000);
    const second = await start(dir);
    expect(second.info.graph).toBe('loaded');

    const reference = (await plain.infer(input())).output;
    for (const runtime of [first, second]) {
      const { output } = await runtime.infer(input());
      expect(output.length).toBe(reference.length);
      let worst = 0;
      for (let i = 0; i < output.length; i++) worst = Math.max(worst, Math.abs(output[i]! - reference[i]!));
      expect(worst).toBeLessThan(1e-3);
    }
  });

  it('a damaged cached file is deleted and rebuilt, with a log line that says so', async () => {
    const dir = await tempDir();
    await start(dir);
    const path = graphCacheEntry(dir, classModelPath(detector), identity, 'cpu').path;
    await writeFile(path, Buffer.from('not an onnx graph'));
    const log: string[] = [];
    const runtime = await start(dir, log);
    expect(runtime.info.graph).toBe('rebuilt');
    expect(runtime.info.graphNote).toContain('did not load');
    expect(log.join('\n')).toContain('Optimized graph cache');
    expect((await stat(path)).size).toBeGreaterThan(1_000_000);
    expect((await runtime.infer(input())).output.length).toBeGreaterThan(0);
  });

  it('a cache directory that cannot be created still gives a working session, optimized in memory', async () => {
    const dir = await tempDir();
    // A file where the directory should be: mkdir fails for root too (permissions would not stop root).
    const blocked = join(dir, 'blocked');
    await writeFile(blocked, 'x');
    await chmod(blocked, 0o444);
    const runtime = await start(blocked);
    expect(runtime.info.graph).toBe('unsaved');
    expect(runtime.info.graphNote).toContain('not writable');
    expect((await runtime.infer(input())).output.length).toBeGreaterThan(0);
  });
});
