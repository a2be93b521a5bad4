import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine/index.js';
import type { Engine } from '../src/engine/index.js';
import { resolveModelFile } from '../src/inference/modelCache.js';
import { int8Caveat, MODELS, vendorModelPath } from '../src/inference/models.js';
import type { Int8Ranges } from '../src/inference/quantize.js';
import { sharedPath, sharedPresent } from './support/shared.js';
import { testEngineConfig } from './support/env.js';
import { photo as generatedPhoto } from './support/app.js';

/**
 * The int8 ISNet as a registry model (PETCUT_MODEL=isnet-int8, docs/int8.md):
 * built once from the fp32 cache file with the vendored ranges, pinned by hash,
 * and cutting out the pet like the fp32 model does (real models, real ORT).
 */
const INT8 = MODELS['isnet-int8']!;
let cache: string;
let fp32Path: string;

beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'petcut-int8-'));
  // The fp32 model from the tests' own cache (built from the npm package when absent), linked in: the rewrite reads it.
  fp32Path = await resolveModelFile(MODELS.isnet!, testEngineConfig().modelCacheDir);
  await symlink(fp32Path, join(cache, fp32Path.split('/').pop()!));
}, 120_000);

afterAll(async () => {
  await rm(cache, { recursive: true, force: true });
});

describe('isnet-int8 in the model cache', () => {
  it('is built from the fp32 cache file and the vendored ranges, to its pinned bytes, once', async () => {
    const path = await resolveModelFile(INT8, cache);
    const bytes = await readFile(path);
    expect(bytes.length).toBe(INT8.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(INT8.sha256);
    const before = (await stat(path)).mtimeMs;
    expect(await resolveModelFile(INT8, cache)).toBe(path);
    expect((await stat(path)).mtimeMs).toBe(before);
    expect((await readdir(cache)).filter((f) => f.includes('.partial'))).toEqual([]);
  }, 60_000);

  it('refuses a rewrite with other ranges than the pinned ones, leaving no file behind', async () => {
    const ranges = JSON.parse(readFileSync(vendorModelPath(INT8.derive!.ranges), 'utf8')) as Int8Ranges;
    const [first] = Object.keys(ranges.tensors);
    const changed = { ...ranges, tensors: { ...ranges.tensors, [first!]: [0, 2 * ranges.tensors[first!]![1]] as const } };
    const file = join(cache, 'changed.ranges.json');
    await writeFile(file, JSON.stringify(changed));
    const target = join(cache, 'changed');
    const model = { ...INT8, name: 'isnet-int8-changed', derive: { ...INT8.derive!, ranges: file } };
    await symlink(fp32Path, join(cache, 'fp32-link.onnx'));
    await expect(resolveModelFile(model, target)).rejects.toMatchObject({ code: 'PETCUT_E_MODEL_INTEGRITY', message: expect.stringContaining('was the ranges file changed?') });
    // The fp32 base was built (or found) there first; no int8 file and no partial file.
    expect((await readdir(target)).filter((f) => f.startsWith('isnet-int8') || f.includes('.partial'))).toEqual([]);
  }, 120_000);

  it('a missing ranges file names the file', async () => {
    const model = { ...INT8, name: 'isnet-int8-noranges', derive: { ...INT8.derive!, ranges: join(cache, 'absent.json') } };
    await expect(resolveModelFile(model, cache)).rejects.toMatchObject({ code: 'PETCUT_E_MODEL_UNAVAILABLE', message: expect.stringContaining('absent.json') });
  });
});

describe('int8 on this CPU or another', () => {
  it('warns where the CPU has no VNNI or AMX int8, and only for an int8 model', () => {
    expect(int8Caveat(INT8, 'avx avx2 fma sse4_2')).toMatch(/without VNNI or AMX int8 .*PETCUT_MODEL=isnet is the safe choice/);
    expect(int8Caveat(INT8, 'asimd fp')).toContain('(flags: asimd fp)');
    for (const flags of ['avx2 avx512f avx512_vnni', 'avx2 avx_vnni', 'amx_bf16 amx_int8 amx_tile']) expect(int8Caveat(INT8, flags)).toBeUndefined();
    expect(int8Caveat(MODELS.isnet!, 'avx avx2')).toBeUndefined();
    // avx512_vnni must be a whole flag, not a part of another name.
    expect(int8Caveat(INT8, 'avx512_vnnix')).toBeDefined();
  });
});

describe('isnet-int8 in the engine (real model)', () => {
  let fp32: Engine;
  let int8: Engine;
  beforeAll(async () => {
    const config = (model: string) => ({ ...testEngineConfig({ PETCUT_DEVICE: 'cpu', PETCUT_PET_FINDING: 'false' }), model, modelCacheDir: cache });
    fp32 = await createEngine({ config: config('isnet'), pipelines: 1 });
    int8 = await createEngine({ config: config('isnet-int8'), pipelines: 1 });
  }, 180_000);
  afterAll(async () => {
    await int8?.close();
    await fp32?.close();
  });

  const iou = (a: Uint8Array, b: Uint8Array): number => {
    let both = 0;
    let either = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]! >= 128;
      const y = b[i]! >= 128;
      if (x && y) both++;
      if (x || y) either++;
    }
    return either === 0 ? 1 : both / either;
  };

  it('has its own identity (its cut-outs are never served from fp32 cache entries)', () => {
    expect(int8.model.name).toBe('isnet-int8');
    expect(int8.modelIdentity).not.toBe(fp32.modelIdentity);
  });

  it('cuts out the same pet as fp32', async () => {
    const photos = sharedPresent('fixtures/pets')
      ? ['dog_golden_am2k_sample11.jpg', 'cat_calico_am2k_sample14.jpg'].map((f) => readFileSync(sharedPath('fixtures', 'pets', f)))
      : [await generatedPhoto(640, 480)];
    for (const photo of photos) {
      const [a, b] = [await fp32.segment(photo), await int8.segment(photo)];
      expect(b.width).toBe(a.width);
      const overlap = iou(a.alpha, b.alpha);
      expect(overlap).toBeGreaterThan(0.95);
      // Not the same model under another name: the masks differ somewhere.
      expect(Buffer.compare(Buffer.from(a.alpha), Buffer.from(b.alpha))).not.toBe(0);
    }
  }, 120_000);
});
