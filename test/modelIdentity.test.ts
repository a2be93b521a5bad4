import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import type { PetcutApp } from '../src/app.js';
import { loadServiceConfig } from '../src/config.js';
import { createEngine, describeModel, loadEngineConfig } from '../src/engine/index.js';
import type { Engine } from '../src/engine/index.js';
import { resolveModelFile } from '../src/inference/modelCache.js';
import { MODELS, modelIdentity } from '../src/inference/models.js';
import { createStore } from '../src/storage/index.js';
import { form, photo } from './support/app.js';

/**
 * A model's identity is its content (issue #13, item 5): the cache id of a
 * custom model used to be its path, so replacing the file behind
 * PETCUT_MODEL=/models/x.onnx served the old model's cut-outs from cache for
 * seven days. Two different ONNX files are put at the same path in turn,
 * each loaded by an engine, both apps on one data directory.
 */
let dir: string;
let data: string;
const engines: Engine[] = [];
const apps: PetcutApp[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-model-identity-'));
  data = join(dir, 'data');
});
afterAll(async () => {
  for (const app of apps) {
    await app.petcut.processing.drain();
    await app.close();
  }
  for (const engine of engines) await engine.close();
  await rm(dir, { recursive: true, force: true });
});

/** An engine on the file at `path` (as it is now), and an app on the shared data directory. */
async function appOnModelAt(path: string): Promise<PetcutApp> {
  const env = { PETCUT_MODEL: path, PETCUT_DATA_DIR: data, PETCUT_LOG_LEVEL: 'silent', PETCUT_SWEEP_INTERVAL_S: '0', PETCUT_COST_LEDGER: 'off', PETCUT_DEVICE: 'cpu' };
  const engine = await createEngine({ config: loadEngineConfig(env), pipelines: 1 });
  engines.push(engine);
  const app = await createApp(loadServiceConfig(env), { engine, store: createStore({ kind: 'fs', root: data }), logger: false });
  apps.push(app);
  return app;
}

describe('the model\'s identity is its content', () => {
  it('swapping the file behind PETCUT_MODEL gives a cache miss and new pixels, not the old model\'s cut-out', async () => {
    const cacheDir = loadEngineConfig({}).modelCacheDir;
    const quint8 = await resolveModelFile(MODELS['isnet-quint8']!, cacheDir);
    const fp32 = await resolveModelFile(MODELS.isnet!, cacheDir);
    const path = join(dir, 'model.onnx');
    const image = await photo(160, 120, 'jpeg', 3);
    const cut = async (app: PetcutApp) => {
      const response = await app.inject({ method: 'POST', url: '/v1/cutouts?format=png&size=full', payload: form([{ data: image }]) });
      expect(response.statusCode, response.body).toBe(200);
      return { cache: response.headers['x-cache'], pixels: (await sharp(response.rawPayload).raw().toBuffer()) };
    };
    await copyFile(quint8, path);
    const first = await appOnModelAt(path);
    const a1 = await cut(first);
    const a2 = await cut(first);
    expect([a1.cache, a2.cache]).toEqual(['MISS', 'HIT']);
    // Other weights, same path, same upload, same data directory.
    await copyFile(fp32, path);
    const second = await appOnModelAt(path);
    const b = await cut(second);
    expect(b.cache).toBe('MISS');
    expect(b.pixels.equals(a1.pixels)).toBe(false);
    // And the first model's entries are still its own.
    expect((await cut(first)).cache).toBe('HIT');
    expect(engines[0]!.modelIdentity).not.toBe(engines[1]!.modelIdentity);
  });

  it('the identity covers the weights\' hash, the input size and the normalisation, never the name or path', () => {
    const base = describeModel(loadEngineConfig({ PETCUT_MODEL: '/models/a.onnx' }));
    const renamed = describeModel(loadEngineConfig({ PETCUT_MODEL: '/elsewhere/b.onnx' }));
    const weights = 'f'.repeat(64);
    expect(modelIdentity(base, weights)).toBe(modelIdentity(renamed, weights));
    expect(modelIdentity(base, weights)).not.toBe(modelIdentity(base, 'e'.repeat(64)));
    expect(modelIdentity(base, weights)).not.toBe(modelIdentity({ ...base, inputSize: 512 }, weights));
    expect(modelIdentity(base, weights)).not.toBe(modelIdentity({ ...base, mean: [0, 0, 0] }, weights));
  });
});
