import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveModelFile } from '../src/inference/modelCache.js';
import { MODELS } from '../src/inference/models.js';

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

  it('a missing custom model file is a clear error', async () => {
    const custom = { ...MODELS.isnet!, name: 'custom', source: { kind: 'file' as const, path: join(dir, 'nope.onnx') } };
    await expect(resolveModelFile(custom, dir)).rejects.toMatchObject({ code: 'PETCUT_E_MODEL_UNAVAILABLE', message: expect.stringContaining('nope.onnx') });
  });
});
