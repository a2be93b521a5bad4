import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

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
   * Built once from another registry model's cache file instead of the
   * source's bytes (the source is that model's): `int8` is the static u8s8
   * rewrite of src/inference/quantize.ts with the calibrated activation
   * ranges in vendor/models/<ranges> (or an absolute path). The result is pinned by sha256 and
   * size like any other.
   */
  readonly derive?: { readonly from: string; readonly rewrite: 'int8'; readonly ranges: string };
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
  // The fp32 model rewritten as static u8s8 QDQ (docs/int8.md): measured 1.5-2.1x
  // faster inference on an AVX-512 VNNI CPU, raw-mask IoU within 0.002 of fp32.
  // Opt-in: it pays off on AVX-512 VNNI / AMX CPUs; on an AVX2-only one it measured barely faster and outside its quality gate (docs/int8.md).
  'isnet-int8': {
    ...ISNET_COMMON,
    name: 'isnet-int8',
    description: 'ISNet general-use, int8 (u8s8, calibrated) from the fp32 model: faster on CPUs with AVX-512 VNNI or AMX',
    source: { kind: 'imgly', resource: '/models/medium' },
    derive: { from: 'isnet', rewrite: 'int8', ranges: 'isnet-int8.ranges.json' },
    sha256: 'cbd260bdbf8ff265c918649f8d44dad36e95bfde0e6c0e243ca698d6667a3168',
    bytes: 44_510_269,
    benchmark: true,
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

/**
 * The class models of pet finding (issue #18): small Apache-2.0 ONNX models
 * vendored in vendor/models/ (provenance in its README), pinned by size and
 * hash. They tell the pet from the person holding it, the sofa and the plant;
 * ISNet still draws the edges. Each runs at its own small input size.
 */
export interface ClassModelDescription {
  readonly name: 'detector' | 'segmenter';
  readonly description: string;
  /** File name in vendor/models/. */
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly inputName: string;
  readonly outputName: string;
  /** The input tensor's shape. */
  readonly dims: readonly number[];
  readonly license: string;
}

export const CLASS_MODELS: Readonly<Record<ClassModelDescription['name'], ClassModelDescription>> = {
  // YOLOX-Nano (COCO 80): input BGR 0..255, letterboxed top-left on 114 grey;
  // output [1, 3549, 85] per anchor (strides 8/16/32): x, y, log w, log h, objectness, 80 class scores.
  detector: {
    name: 'detector',
    description: 'YOLOX-Nano COCO detector (animals, people, furniture), 416 x 416',
    file: 'yolox_nano.onnx',
    sha256: '695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14',
    bytes: 3_660_092,
    inputName: 'images',
    outputName: 'output',
    dims: [1, 3, 416, 416],
    license: 'Apache-2.0 (Megvii YOLOX, via Kazuhito00/YOLOX-ONNX-TFLite-Sample)',
  },
  // DeepLabV3-MobileNetV2 (PASCAL VOC 21): input NHWC RGB x/127.5 - 1, plain resize; output [1, 257, 257, 21] logits.
  segmenter: {
    name: 'segmenter',
    description: 'DeepLabV3-MobileNetV2 PASCAL VOC segmenter (cat, dog, person, sofa, ...), 257 x 257',
    file: 'deeplabv3_mnv2_voc_257.onnx',
    sha256: '48a46b346ca7e2e96760b8a10a302046a3b5a9ce55e59d4c659c36d9cbd44118',
    bytes: 2_781_296,
    inputName: 'sub_7',
    outputName: 'ResizeBilinear_3',
    dims: [1, 257, 257, 3],
    license: 'Apache-2.0 (TF-Hub deeplabv3/1, via Kazuhito00/Image-Processing-Node-Editor)',
  },
};

/** Where a file of vendor/models/ is: at the package root (src/ and dist/ are both one level below it). */
export function vendorModelPath(file: string): string {
  return fileURLToPath(new URL(`../../vendor/models/${file}`, import.meta.url));
}

/** Where a class model's file is. */
export function classModelPath(model: ClassModelDescription): string {
  return vendorModelPath(model.file);
}

/**
 * Why an int8 model may not pay off here, or undefined: it was measured on a
 * CPU with VNNI (AVX-512 VNNI, AVX-VNNI or AMX int8) only; without them ONNX
 * Runtime's u8s8 kernels gain less or lose, and their 16-bit sums can
 * saturate (docs/int8.md). `features` is cpuFeatures() (graphCache.ts).
 */
export function int8Caveat(model: ModelDescription, features: string): string | undefined {
  if (model.derive?.rewrite !== 'int8') return undefined;
  if (/\b(avx512_vnni|avx_vnni|amx_int8)\b/.test(features)) return undefined;
  return `model ${model.name} runs int8 on a CPU without VNNI or AMX int8 (flags: ${features.slice(0, 120)}): on an AVX2-only CPU it measured barely faster than ${model.derive.from} (1.02-1.17x) with quality outside its gate (docs/int8.md); PETCUT_MODEL=${model.derive.from} is the safe choice`;
}
