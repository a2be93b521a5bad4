import { createHash } from 'node:crypto';

/**
 * The model registry: each model described as data, in one place. An entry
 * says where its weights come from (a resource of an npm package, or a file:
 * never a URL, nothing is downloaded), what the weights' bytes hash to, its
 * input size and normalisation. Everything else reads this table: the model
 * cache, `petcut model list`, the benchmark's model section. A model plugged
 * in by config (PETCUT_MODEL=path.onnx) gets the same description from env,
 * and its bytes are hashed when the model is first loaded.
 */
export interface ModelSource {
  /** Weights reassembled from @imgly/background-removal-data's chunks. */
  readonly kind: 'imgly';
  readonly resource: string;
}

export interface ModelFileSource {
  readonly kind: 'file';
  readonly path: string;
}

export interface ModelDescription {
  readonly name: string;
  readonly description: string;
  readonly source: ModelSource | ModelFileSource;
  /** sha256 of the reassembled chunks (the package's file), checked before any transform. */
  readonly sourceSha256?: string;
  /** A rewrite applied once when the cache is built. */
  readonly transform?: 'fp16-to-fp32';
  /**
   * sha256 of the final .onnx file: checked once when the cache is built, or
   * for a file source each time it loads.
   */
  readonly sha256?: string;
  /** Size of the final .onnx file in bytes; checked when the cache is built. */
  readonly bytes?: number;
  /** Square input side in pixels; the photo is stretched to it (ISNet was trained that way). */
  readonly inputSize: number;
  /** Per-channel normalisation applied to 0..255 RGB: (x - mean) / std. */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly inputName: string;
  readonly outputName: string;
  /** Whether the output is already a probability (0..1) or needs min-max scaling. */
  readonly outputRange: 'probability' | 'minmax';
  readonly license: string;
  /** Measured by `npm run bench -- models` (the CPU variants; fp16 is for GPUs). */
  readonly benchmark?: boolean;
}

// ISNet (DIS, general use) as exported by IMG.LY: input (x - 128) / 256, the
// first output `output` is the sigmoid of the finest side output.
const ISNET_COMMON = {
  inputSize: 1024,
  mean: [128, 128, 128],
  std: [256, 256, 256],
  inputName: 'input',
  outputName: 'output',
  outputRange: 'probability',
  license: 'AGPL-3.0 (weights from @imgly/background-removal-data)',
} as const;

export const MODELS: Readonly<Record<string, ModelDescription>> = {
  // The fp16 weights widened to fp32 once in the cache: same output, same
  // speed, 350 MB less memory on CPU (see fp32.ts).
  isnet: {
    ...ISNET_COMMON,
    name: 'isnet',
    description: 'ISNet general-use, fp16 weights run as fp32 (best quality; default)',
    source: { kind: 'imgly', resource: '/models/medium' },
    sourceSha256: 'b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb',
    transform: 'fp16-to-fp32',
    sha256: 'f090b62d955b54f43292b4e17a1f55179173f60cdb6bc781d1235ac22786be54',
    bytes: 176_224_294,
    benchmark: true,
  },
  'isnet-fp16': {
    ...ISNET_COMMON,
    name: 'isnet-fp16',
    description: 'ISNet general-use, fp16 weights as published (for GPUs with fp16 kernels)',
    source: { kind: 'imgly', resource: '/models/medium' },
    sha256: 'b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb',
    bytes: 88_188_479,
  },
  'isnet-quint8': {
    ...ISNET_COMMON,
    name: 'isnet-quint8',
    description: 'ISNet general-use, quint8 weights (half the size, lower quality)',
    source: { kind: 'imgly', resource: '/models/small' },
    sha256: '7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a',
    bytes: 44_342_436,
    benchmark: true,
  },
};

export const DEFAULT_MODEL = 'isnet';

/**
 * A model's identity: what its cut-outs depend on. The weights' content (never
 * a file's name or path: replace the file behind PETCUT_MODEL and the identity
 * changes), the input size, the normalisation and the tensors read. The result
 * cache keys every entry with it.
 */
export function modelIdentity(model: ModelDescription, weightsSha256: string): string {
  const facts = [weightsSha256, model.inputSize, model.mean.join(','), model.std.join(','), model.inputName, model.outputName, model.outputRange];
  return createHash('sha256').update(facts.join('|')).digest('hex');
}
