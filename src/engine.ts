import { loadEngineConfig } from './config.js';
import type { EngineConfig } from './config.js';
import { PetcutError } from './errors.js';
import { renderCutout } from './image/render.js';
import type { Rendered, RenderOptions } from './image/render.js';
import type { Box } from './image/subject.js';
import { resolveModelFile } from './inference/modelCache.js';
import { DEFAULT_MODEL, MODELS } from './inference/models.js';
import type { ModelDescription } from './inference/models.js';
import { createRuntime } from './inference/runtime.js';
import type { RuntimeInfo } from './inference/runtime.js';
import { segmentImage } from './segment.js';
import type { Segmentation, SegmentOptions, StageTimes } from './segment.js';

export type CutoutOptions = SegmentOptions & RenderOptions;

export interface CutoutResult extends Rendered {
  /** Foreground box in the output's coordinates (alpha >= 50 %), null when no subject was found. */
  readonly box: Box | null;
  readonly confidence: number;
  readonly zoomed: boolean;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  readonly times: Required<StageTimes>;
}

export interface Engine {
  readonly model: ModelDescription;
  readonly runtime: RuntimeInfo;
  segment(input: Buffer, options?: SegmentOptions): Promise<Segmentation>;
  cutout(input: Buffer, options?: CutoutOptions): Promise<CutoutResult>;
  close(): Promise<void>;
}

export interface EngineOptions {
  readonly config?: EngineConfig;
  readonly log?: (message: string) => void;
}

/** Describes the configured model: a registry name, or a path to any ONNX salient-object model. */
export function describeModel(config: EngineConfig): ModelDescription {
  const known = MODELS[config.model];
  if (known) return known;
  if (!config.model.endsWith('.onnx')) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Unknown model "${config.model}": use one of ${Object.keys(MODELS).join(', ')} or a path to an .onnx file.`);
  }
  const base = MODELS[DEFAULT_MODEL]!;
  const custom = config.customModel;
  return {
    name: config.model.split('/').pop()!.replace(/\.onnx$/, ''),
    description: `Custom model ${config.model}`,
    source: { kind: 'file', path: config.model },
    inputSize: custom.inputSize ?? base.inputSize,
    mean: custom.mean ?? base.mean,
    std: custom.std ?? base.std,
    inputName: custom.inputName ?? base.inputName,
    outputName: custom.outputName ?? base.outputName,
    outputRange: 'minmax',
    license: 'as distributed with the file',
  };
}

/** Loads the model once (one session for the process) and returns the cut-out engine. */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const config = options.config ?? loadEngineConfig();
  const model = describeModel(config);
  const modelPath = await resolveModelFile(model, config.modelCacheDir);
  const runtime = await createRuntime({ modelPath, model, device: config.device, threads: config.threads, log: options.log });
  const segment = (input: Buffer, segmentOptions?: SegmentOptions): Promise<Segmentation> =>
    segmentImage(input, runtime, model, config.maxPixels, segmentOptions);

  return {
    model,
    runtime: runtime.info,
    segment,
    async cutout(input, cutoutOptions = {}) {
      const started = performance.now();
      const segmentation = await segment(input, cutoutOptions);
      const encodeStarted = performance.now();
      const rendered = await renderCutout(segmentation, cutoutOptions);
      const encode = performance.now() - encodeStarted;
      return {
        ...rendered,
        box: boxInOutput(segmentation.box, rendered),
        confidence: segmentation.confidence,
        zoomed: segmentation.zoomed,
        sourceWidth: segmentation.width,
        sourceHeight: segmentation.height,
        times: { ...segmentation.times, encode, total: performance.now() - started },
      };
    },
    close: () => runtime.close(),
  };
}

function boxInOutput(box: Box | null, rendered: Rendered): Box | null {
  if (!box) return null;
  const scale = rendered.width / rendered.rect.width;
  return {
    x: Math.round((box.x - rendered.rect.x) * scale),
    y: Math.round((box.y - rendered.rect.y) * scale),
    width: Math.max(1, Math.round(box.width * scale)),
    height: Math.max(1, Math.round(box.height * scale)),
  };
}
