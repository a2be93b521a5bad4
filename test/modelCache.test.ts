import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { resolveModel, resolveModelFile } from '../src/inference/modelCache.js';
import { MODELS, vendorModelPath } from '../src/inference/models.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-models-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('model cache', () => {
  it('reassembles the quint8 ISNet from the npm chunks and verifies its sha256', async () => {
    const model = MODELS['isnet-quint8']!;
    const path = await resolveModelFile(model, dir);
    const bytes = await readFile(path);
    expect(bytes.length).toBe(model.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(model.sha256);
    // A second call finds the verified file and does not rebuild it.
    const before = (await stat(path)).mtimeMs;
    expect(await resolveModelFile(model, dir)).toBe(path);
    expect((await stat(path)).mtimeMs).toBe(before);
  });

  it('refuses weights whose hash does not match, leaving no file behind', async () => {
    const wrong = { ...MODELS['isnet-quint8']!, name: 'tampered', sha256: '0'.repeat(64) };
    const target = join(dir, 'tampered');
    await expect(resolveModelFile(wrong, target)).rejects.toMatchObject({ code: 'PETCUT_E_MODEL_INTEGRITY' });
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses weights of the wrong size even when the hash is right, leaving no file behind', async () => {
    const wrong = { ...MODELS['isnet-quint8']!, name: 'resized', bytes: MODELS['isnet-quint8']!.bytes! + 1 };
    const target = join(dir, 'resized');
    await expect(resolveModelFile(wrong, target)).rejects.toMatchObject({ code: 'PETCUT_E_MODEL_INTEGRITY', message: expect.stringContaining(String(wrong.bytes)) });
    expect(await readdir(target)).toEqual([]);
  });

  it('a file source with a pin is checked against it each time it loads', async () => {
    const built = await resolveModelFile(MODELS['isnet-quint8']!, dir);
    const pinned = { ...MODELS['isnet-quint8']!, name: 'pinned-file', source: { kind: 'file' as const, path: built } };
    const resolved = await resolveModel(pinned, dir);
    expect(resolved.path).toBe(built);
    const wrong = { ...pinned, sha256: '0'.repeat(64) };
    await expect(resolveModel(wrong, dir)).rejects.toMatchObject({ code: 'PETCUT_E_MODEL_INTEGRITY', message: expect.stringContaining(built) });
    // Without a pin (a file plugged in by config) it is hashed, not refused.
    const unpinned = { ...pinned, sha256: undefined };
    expect((await resolveModel(unpinned, dir)).identity).toBe(resolved.identity);
  });

  it('a missing custom model file is a clear error', async () => {
    const custom = { ...MODELS.isnet!, name: 'custom', source: { kind: 'file' as const, path: join(dir, 'nope.onnx') } };
    await expect(resolveModelFile(custom, dir)).rejects.toMatchObject({ code: 'PETCUT_E_MODEL_UNAVAILABLE', message: expect.stringContaining('nope.onnx') });
  });
});

describe('the model registry', () => {
  const require = createRequire(import.meta.url);
  const resourcesPath = require.resolve('@imgly/background-removal-data/dist/resources.json');
  const resources = JSON.parse(readFileSync(resourcesPath, 'utf8')) as Record<string, { size: number; chunks: { hash: string }[] }>;

  it.each(Object.entries(MODELS))('%s: keyed by its name, pinned, and its package resource exists', (key, model) => {
    expect(model.name).toBe(key);
    expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(model.bytes).toBeGreaterThan(0);
    if (model.sourceSha256 !== undefined) expect(model.transform).toBeDefined();
    expect(model.source.kind).toBe('imgly');
    if (model.source.kind !== 'imgly') return;
    const resource = resources[model.source.resource];
    expect(resource, `${model.source.resource} in resources.json`).toBeDefined();
    for (const chunk of resource!.chunks) expect(existsSync(join(dirname(resourcesPath), chunk.hash)), chunk.hash).toBe(true);
    // Without a rewrite the cache file is the package's file: same size.
    if (model.transform === undefined && model.derive === undefined) expect(resource!.size).toBe(model.bytes);
    // A derived model names a registry model of the same source, and its vendored ranges exist.
    if (model.derive) {
      expect(MODELS[model.derive.from]?.source).toEqual(model.source);
      expect(existsSync(vendorModelPath(model.derive.ranges)), model.derive.ranges).toBe(true);
    }
  });
});
