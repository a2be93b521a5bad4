import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus } from 'node:os';
import { basename, join } from 'node:path';

/**
 * Where ONNX Runtime's optimized graph of a model is kept between starts.
 *
 * Creating a session with `graphOptimizationLevel: 'all'` rewrites the graph
 * (fusions, then the NCHWc layout of the CPU provider, which reorders every
 * convolution's weights for this CPU's vector width): most of the session's
 * creation time, and a transient second copy of the weights (measured here:
 * RSS after creation 487 MB from the plain file, 247 MB from the optimized
 * one; peak after the first run 1136 vs 902 MB). ORT can save the result
 * (`optimizedModelFilePath`) and load it again with optimizations off.
 *
 * The saved graph is specific to the hardware and the runtime: ORT says so
 * itself ("should only be used in the same environment the model was
 * optimized in"). So its file name carries a key over everything it depends
 * on: the model's identity (its weights' hash), the provider, the ORT version,
 * the CPU architecture and the CPU's feature flags (AVX2 vs AVX-512 picks the
 * NCHWc block size). Any change gives another name, so an old file is never
 * loaded by mistake; a file that fails to load is deleted and rebuilt (see
 * worker.ts).
 */
export interface GraphCacheEntry {
  /** The optimized graph's path: present means complete (written under another name, then renamed). */
  readonly path: string;
  /** The key's inputs, for logs and /health. */
  readonly key: string;
}

const require = createRequire(import.meta.url);

/** The ORT version the graph was optimized by (onnxruntime-node's package version, which pins the native library). */
export function ortVersion(): string {
  return (require('onnxruntime-node/package.json') as { version: string }).version;
}

/** The instruction-set flags that choose ORT's kernels and layouts (MLAS dispatches on these); the rest (mitigations, virtualisation) do not. */
const ISA_FLAG = /^(sse|ssse|avx|fma|f16c|amx|bmi|popcnt|movbe|lzcnt|abm|vnni|asimd|sve|neon)/;

/**
 * The CPU features the optimized graph depends on: the instruction-set flags
 * of /proc/cpuinfo's `flags` (x86) or `Features` (Arm) line on Linux, sorted
 * (the same on every core of one machine), else the CPU model name.
 */
export function cpuFeatures(cpuinfo: () => string = () => readFileSync('/proc/cpuinfo', 'utf8')): string {
  try {
    const flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(cpuinfo())?.[1];
    const isa = flags?.trim().split(/\s+/).filter((flag) => ISA_FLAG.test(flag)).sort();
    if (isa?.length) return isa.join(' ');
  } catch {
    // Not Linux, or /proc not mounted: fall through.
  }
  return cpus()[0]?.model ?? 'unknown cpu';
}

/**
 * The cache entry for one model file on this machine. `identity` is the
 * model's content identity (modelIdentity(), or for a class model its pinned
 * sha256): the model file's path alone would not do, a custom model can
 * change in place.
 */
export function graphCacheEntry(cacheDir: string, modelPath: string, identity: string, provider: 'cpu' | 'cuda', features = cpuFeatures()): GraphCacheEntry {
  const key = ['graph-v1', identity, provider, `ort ${ortVersion()}`, arch(), features].join('|');
  const digest = createHash('sha256').update(key).digest('hex').slice(0, 16);
  const name = basename(modelPath).replace(/\.onnx$/i, '');
  return { path: join(cacheDir, 'optimized', `${name}.${provider}-${digest}.onnx`), key: digest };
}
