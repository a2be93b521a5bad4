import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort, Worker } from 'node:worker_threads';
import { loadEngineConfig } from './config.js';
import type { EngineConfig } from './config.js';
import { PetcutError } from '../errors.js';
import type { RenderOptions } from '../image/render.js';
import { resolveModel } from '../inference/modelCache.js';
import { DEFAULT_MODEL, int8Caveat, MODELS } from '../inference/models.js';
import { cpuFeatures } from '../inference/graphCache.js';
import type { ModelDescription } from '../inference/models.js';
import { createRuntime } from '../inference/runtime.js';
import { CLASS_MODELS } from '../inference/models.js';
import type { InferenceRuntime, RuntimeInfo } from '../inference/runtime.js';
import { createPipelinePool } from './pipeline/pool.js';
import type { RunControl } from './pipeline/pool.js';
import type { CutoutSummary, OutputSpec, ProcessOptions, ProcessSummary, SegmentSummary } from './pipeline/protocol.js';
import type { SegmentOptions } from './segment.js';

export type CutoutOptions = SegmentOptions & RenderOptions & Pick<OutputSpec, 'effect' | 'effectParams'>;
export type CutoutResult = CutoutSummary;
export type SegmentResult = SegmentSummary;
export type ProcessResult = ProcessSummary;
export type { OutputSpec, ProcessOptions, RunControl };

export interface Engine {
  readonly model: ModelDescription;
  /** What the model's cut-outs depend on: its weights' content hash, input size and normalisation (the cache's key). */
  readonly modelIdentity: string;
  readonly runtime: RuntimeInfo;
  /** Time from createEngine() to a loaded model, in ms. */
  readonly readyMs: number;
  /** The full-resolution alpha and what was found (for evaluation). */
  segment(input: Buffer, options?: SegmentOptions): Promise<SegmentResult>;
  /** The encoded cut-out. */
  cutout(input: Buffer, options?: CutoutOptions): Promise<CutoutResult>;
  /** Segments once and renders every asked output (effect + format + size); optionally the cache master. */
  process(input: Buffer, options: ProcessOptions, control?: RunControl): Promise<ProcessResult>;
  /** Renders outputs from a cached master (no model run). */
  render(master: Buffer, outputs: readonly OutputSpec[], control?: RunControl): Promise<ProcessResult>;
  /** Images accepted and not finished. */
  inFlight(): number;
  /** Images waiting for a free pipeline worker. */
  queued(): number;
  /** Pipeline workers: how many images are processed at once. */
  readonly concurrency: number;
  /** The pipeline worker threads now (a dead one is replaced): diagnostics, and tests that stop one. */
  pipelineThreads(): readonly Worker[];
  /**
   * Refuses what waits, lets what runs stop (up to `waitMs`, default 30 s),
   * then stops the workers and the model. Resolves false when native work
   * (a model run, a libvips operation) was still going at the end: its
   * threads are left running, because stopping them, or exiting the process,
   * then aborts it; the caller ends the process another way (SIGKILL).
   */
  close(waitMs?: number): Promise<boolean>;
}

export interface EngineOptions {
  readonly config?: EngineConfig;
  readonly log?: (message: string) => void;
  /** Pipeline workers (decode, refine, encode); 2 keeps the model busy on two cores. */
  readonly pipelines?: number;
  /** A synthetic image through each pipeline worker while the model loads (default on; the bench turns it off to measure it). */
  readonly warmUpPipelines?: boolean;
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

/**
 * Loads the model once (one ONNX Runtime session for the whole process, in
 * its own thread) and starts the pipeline workers. Nothing here or in the
 * returned engine runs pixel loops on the caller's thread.
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const started = performance.now();
  const config = options.config ?? loadEngineConfig();
  const model = describeModel(config);
  const caveat = int8Caveat(model, cpuFeatures());
  if (caveat !== undefined) options.log?.(`warning: ${caveat}`);
  const { path: modelPath, identity: modelId } = await resolveModel(model, config.modelCacheDir);
  const classModels = config.petFinding ? Object.values(CLASS_MODELS) : [];
  // The pipeline workers start now, beside the model's load: their ports to the inference
  // worker are handed over once it exists (what they send before waits in the port).
  const loaded: { runtime?: InferenceRuntime } = {};
  const early: MessagePort[] = [];
  const connect = (): MessagePort => {
    if (loaded.runtime) return loaded.runtime.connect();
    const channel = new MessageChannel();
    early.push(channel.port2);
    return channel.port1;
  };
  const concurrency = options.pipelines ?? Math.max(2, Math.min(4, availableParallelism()));
  const pool = createPipelinePool({ connect, classModels: classModels.map((m) => m.name), model, maxPixels: config.maxPixels, size: concurrency, warmUp: options.warmUpPipelines ?? true });
  let runtime: InferenceRuntime;
  try {
    runtime = await createRuntime({
      modelPath, model, device: config.device, threads: config.threads, log: options.log, classModels,
      graphCache: config.graphCache ? { dir: config.modelCacheDir, identity: modelId } : undefined,
      warmUp: config.readyAfterWarmUp,
    });
  } catch (error) {
    await pool.close(1000);
    throw error;
  }
  loaded.runtime = runtime;
  for (const port of early.splice(0)) runtime.attach(port);
  const readyMs = performance.now() - started;
  return {
    model,
    modelIdentity: modelId,
    runtime: runtime.info,
    readyMs,
    segment: (input, segmentOptions = {}) => pool.run('segment', input, segmentOptions),
    cutout: (input, cutoutOptions = {}) => pool.run('cutout', input, cutoutOptions),
    process: (input, processOptions, control) => pool.run('process', input, processOptions, control),
    render: (master, outputs, control) => pool.run('render', master, { outputs }, control),
    inFlight: () => pool.inFlight(),
    queued: () => pool.queued(),
    concurrency,
    pipelineThreads: () => pool.threads(),
    async close(waitMs = 30_000) {
      // Side by side: the runtime refuses queued runs at once, so a pipeline waiting on one is idle soon too.
      const [pipelines, model] = await Promise.all([pool.close(waitMs), runtime.close(waitMs)]);
      return pipelines && model;
    },
  };
}
