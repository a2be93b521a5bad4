import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { PetcutError } from '../errors.js';
import { widenFp16Model } from './fp32.js';
import { MODELS, modelIdentity, vendorModelPath } from './models.js';
import type { ModelDescription } from './models.js';
import { makeDirs, writeAtomic } from '../fsDirs.js';
import type { Int8Ranges } from './quantize.js';

interface ChunkRef { hash: string; offsets: [number, number] }
interface ResourceEntry { chunks: ChunkRef[]; size: number }

const require = createRequire(import.meta.url);

function imglyDataDir(): string {
  const resources = require.resolve('@imgly/background-removal-data/dist/resources.json');
  return dirname(resources);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

export interface ResolvedModel {
  readonly path: string;
  /** modelIdentity(): the weights' content hash with the input size and normalisation. */
  readonly identity: string;
}

/**
 * The model's file and its identity. A packaged model's weights are pinned by
 * sha256 and size (checked when its cache file is built); a file is hashed as
 * it is now, each time the model loads (streamed: about half a second for
 * ISNet's 176 MB, once per process), and refused when it has a pin and does
 * not match it.
 */
export async function resolveModel(model: ModelDescription, cacheDir: string): Promise<ResolvedModel> {
  const path = await resolveModelFile(model, cacheDir);
  if (model.source.kind !== 'file') return { path, identity: modelIdentity(model, model.sha256!) };
  const sha256 = await hashFile(path);
  if (model.sha256 !== undefined && sha256 !== model.sha256) {
    throw new PetcutError('PETCUT_E_MODEL_INTEGRITY', `Model file ${model.source.path} has sha256 ${sha256}, expected ${model.sha256} (the pin of model ${model.name}).`);
  }
  return { path, identity: modelIdentity(model, sha256) };
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Returns the path of a verified .onnx file for the model, building it once
 * from the npm package's sha256-named chunks. Nothing is ever downloaded.
 * The cache file is named after its sha256 and only appears (atomic rename)
 * after both every chunk and the whole file were verified, so its presence
 * means it was verified: later starts pay no hashing.
 */
export async function resolveModelFile(model: ModelDescription, cacheDir: string): Promise<string> {
  if (model.source.kind === 'file') {
    if (!(await exists(model.source.path))) {
      throw new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Model file not found: ${model.source.path}`);
    }
    return model.source.path;
  }
  if (!model.sha256) throw new PetcutError('PETCUT_E_MODEL_INTEGRITY', `Model ${model.name} has no pinned sha256.`);
  const target = join(cacheDir, `${model.name}-${model.sha256.slice(0, 16)}.onnx`);
  if (await exists(target)) return target;
  if (model.derive) {
    await deriveModel(model, target, cacheDir);
    return target;
  }
  await assembleImglyModel(model.source.resource, model.sourceSha256 ?? model.sha256, target, model.transform ? { transform: model.transform, sha256: model.sha256 } : undefined, model.bytes);
  return target;
}

async function assembleImglyModel(resource: string, sha256: string, target: string, rewrite?: { transform: 'fp16-to-fp32'; sha256: string }, bytes?: number): Promise<void> {
  const dataDir = imglyDataDir();
  const resources = JSON.parse(await readFile(join(dataDir, 'resources.json'), 'utf8')) as Record<string, ResourceEntry>;
  const entry = resources[resource];
  if (!entry) throw new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Resource ${resource} is not in @imgly/background-removal-data.`);
  await makeDirs(dirname(target));
  const partial = `${target}.${randomUUID()}.partial`;
  const whole = createHash('sha256');
  const file = await open(partial, 'w');
  try {
    for (const chunk of entry.chunks) {
      const bytes = await readFile(join(dataDir, chunk.hash));
      const chunkHash = createHash('sha256').update(bytes).digest('hex');
      if (chunkHash !== chunk.hash || bytes.length !== chunk.offsets[1] - chunk.offsets[0]) {
        throw new PetcutError('PETCUT_E_MODEL_INTEGRITY', `Chunk ${chunk.hash} of ${resource} is corrupt.`);
      }
      whole.update(bytes);
      await file.write(bytes);
    }
    await file.close();
    const digest = whole.digest('hex');
    if (digest !== sha256) {
      throw new PetcutError('PETCUT_E_MODEL_INTEGRITY', `Assembled ${resource} has sha256 ${digest}, expected ${sha256}.`);
    }
    if (rewrite) await rewriteFile(partial, rewrite.sha256);
    const size = (await stat(partial)).size;
    if (bytes !== undefined && size !== bytes) throw new PetcutError('PETCUT_E_MODEL_INTEGRITY', `${target} would be ${size} bytes, the registry pins ${bytes}.`);
    await rename(partial, target);
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Builds a derived model (the int8 rewrite of another registry model's cache
 * file, with the vendored ranges), checks its pinned hash and size, and only
 * then renames it into place. The rewrite's code (onnx-proto) is loaded here
 * only: a service on another model never pays for it.
 */
async function deriveModel(model: ModelDescription, target: string, cacheDir: string): Promise<void> {
  const derive = model.derive!;
  const base = MODELS[derive.from];
  if (!base) throw new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Model ${model.name} is built from ${derive.from}, which is not in the registry.`);
  const basePath = await resolveModelFile(base, cacheDir);
  const rangesPath = isAbsolute(derive.ranges) ? derive.ranges : vendorModelPath(derive.ranges);
  let ranges: Int8Ranges;
  try {
    ranges = JSON.parse(await readFile(rangesPath, 'utf8')) as Int8Ranges;
  } catch (error) {
    throw new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', `Model ${model.name} needs its activation ranges ${rangesPath}: ${(error as Error).message}`);
  }
  const { quantizeIsnet } = await import('./quantize.js');
  const bytes = quantizeIsnet(await readFile(basePath), ranges);
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== model.sha256 || (model.bytes !== undefined && bytes.length !== model.bytes)) {
    throw new PetcutError('PETCUT_E_MODEL_INTEGRITY', `The ${derive.rewrite} rewrite of ${derive.from} with ${rangesPath} gave ${bytes.length} bytes with sha256 ${digest}, the registry pins ${model.bytes ?? '?'} bytes with ${model.sha256} (was the ranges file changed?).`);
  }
  await makeDirs(dirname(target));
  await writeAtomic(target, bytes);
}

/** Applies the fp16 -> fp32 rewrite in place and checks the result's pinned hash. */
async function rewriteFile(path: string, sha256: string): Promise<void> {
  const widened = widenFp16Model(await readFile(path));
  const digest = createHash('sha256').update(widened).digest('hex');
  if (digest !== sha256) throw new PetcutError('PETCUT_E_MODEL_INTEGRITY', `The fp32 rewrite has sha256 ${digest}, expected ${sha256}.`);
  await writeFile(path, widened);
}

