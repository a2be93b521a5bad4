import { availableParallelism, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseEnv } from '../errors.js';

/**
 * Engine configuration: option ?? env ?? default, validated once and frozen.
 * Every variable is documented in .env.example (a test keeps the two in step).
 */
const triple = z
  .string()
  .transform((text) => text.split(',').map((part) => Number(part.trim())))
  .pipe(z.tuple([z.number().finite(), z.number().finite(), z.number().finite()]));

const EnvSchema = z.object({
  PETCUT_MODEL: z.string().min(1).default('isnet'),
  PETCUT_MODEL_INPUT_SIZE: z.coerce.number().int().min(64).max(4096).optional(),
  PETCUT_MODEL_MEAN: triple.optional(),
  PETCUT_MODEL_STD: triple.optional(),
  PETCUT_MODEL_INPUT_NAME: z.string().min(1).optional(),
  PETCUT_MODEL_OUTPUT_NAME: z.string().min(1).optional(),
  PETCUT_MODEL_CACHE_DIR: z.string().min(1).optional(),
  PETCUT_DEVICE: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
  PETCUT_THREADS: z.coerce.number().int().min(1).max(256).optional(),
  // 4096 x 4096 is the plan's upload limit; it bounds the full-resolution
  // buffers (about 20 bytes a pixel across the pipeline, ~340 MB at the limit).
  PETCUT_MAX_PIXELS: z.coerce.number().int().min(1).max(100_000_000).default(4096 * 4096),
  PETCUT_PET_FINDING: z.enum(['true', 'false', '1', '0']).default('true').transform((v) => v === 'true' || v === '1'),
  PETCUT_GRAPH_CACHE: z.enum(['true', 'false', '1', '0']).default('true').transform((v) => v === 'true' || v === '1'),
  PETCUT_READY_AFTER_WARMUP: z.enum(['auto', 'true', 'false', '1', '0']).default('auto').transform((v) => (v === 'auto' ? 'cuda' as const : v === 'true' || v === '1')),
});

export interface EngineConfig {
  readonly model: string;
  readonly customModel: {
    readonly inputSize?: number;
    readonly mean?: readonly [number, number, number];
    readonly std?: readonly [number, number, number];
    readonly inputName?: string;
    readonly outputName?: string;
  };
  readonly modelCacheDir: string;
  readonly device: 'auto' | 'cpu' | 'cuda';
  /** Intra-op threads for ONNX Runtime; sequential execution with threads = cores measured fastest. */
  readonly threads: number;
  readonly maxPixels: number;
  /** Load the class models (vendor/models/) and find the pet; off: every cut-out is the saliency one (`all-salient`). */
  readonly petFinding: boolean;
  /** Keep ONNX Runtime's optimized graph in `<modelCacheDir>/optimized/` between starts (src/inference/graphCache.ts). */
  readonly graphCache: boolean;
  /** One inference on zeros before the engine is ready: `cuda` (auto) on the GPU only; see docs/performance.md. */
  readonly readyAfterWarmUp: boolean | 'cuda';
}

function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME ?? (homedir() ? join(homedir(), '.cache') : tmpdir());
  return join(base, 'petcut', 'models');
}

export function loadEngineConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<EngineConfig> = {}): EngineConfig {
  const e = parseEnv(EnvSchema, env);
  return Object.freeze({
    model: overrides.model ?? e.PETCUT_MODEL,
    customModel: Object.freeze(overrides.customModel ?? {
      inputSize: e.PETCUT_MODEL_INPUT_SIZE,
      mean: e.PETCUT_MODEL_MEAN,
      std: e.PETCUT_MODEL_STD,
      inputName: e.PETCUT_MODEL_INPUT_NAME,
      outputName: e.PETCUT_MODEL_OUTPUT_NAME,
    }),
    modelCacheDir: overrides.modelCacheDir ?? e.PETCUT_MODEL_CACHE_DIR ?? defaultCacheDir(env),
    device: overrides.device ?? e.PETCUT_DEVICE,
    threads: overrides.threads ?? e.PETCUT_THREADS ?? availableParallelism(),
    maxPixels: overrides.maxPixels ?? e.PETCUT_MAX_PIXELS,
    petFinding: overrides.petFinding ?? e.PETCUT_PET_FINDING,
    graphCache: overrides.graphCache ?? e.PETCUT_GRAPH_CACHE,
    readyAfterWarmUp: overrides.readyAfterWarmUp ?? e.PETCUT_READY_AFTER_WARMUP,
  });
}
