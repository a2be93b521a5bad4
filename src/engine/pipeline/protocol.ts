import type { MessagePort } from 'node:worker_threads';
import type { ErrorCode } from '../../errors.js';
import type { Rendered, RenderOptions } from '../../image/render.js';
import type { Box } from '../../image/types.js';
import type { SubjectFacts } from '../types.js';
import type { ModelDescription } from '../../inference/models.js';
import type { SegmentOptions, StageTimes } from '../segment.js';

/** Messages between the engine (main thread) and its pipeline workers. */
export interface PipelineInit {
  port: MessagePort;
  model: ModelDescription;
  maxPixels: number;
  /** The class models the inference worker has loaded (pet finding), by name. */
  classModels: readonly string[];
  /** Run a small synthetic image through the pipeline at start (compiles the pixel loops while the model loads). */
  warmUp: boolean;
}

export type JobKind = 'cutout' | 'segment' | 'process' | 'render';

/** One asked output: an effect, then the render options. */
export interface OutputSpec extends RenderOptions {
  readonly effect?: string;
  readonly effectParams?: Readonly<Record<string, number | boolean | string>>;
}

export interface ProcessOptions extends SegmentOptions {
  readonly outputs: readonly OutputSpec[];
  /** Also return the full-resolution RGBA master for the cache. */
  readonly master?: boolean;
}

export interface RenderRequestOptions {
  readonly outputs: readonly OutputSpec[];
}

export interface PipelineRequest {
  id: number;
  kind: JobKind;
  input: Uint8Array;
  options: (SegmentOptions & RenderOptions) | ProcessOptions | RenderRequestOptions;
}

/** The engine is closing: stop the image in hand at its next stage (PETCUT_E_SHUTTING_DOWN). */
export interface PipelineCancel {
  kind: 'cancel';
}

/** Stages a job reports while it runs (the HTTP layer adds queue, cache and store). */
export type ProgressEvent =
  | { stage: 'decode' | 'segmentation' | 'refine' }
  | { stage: 'effect' | 'encode'; effect: string; index: number; of: number };

export interface RenderedOutput extends Rendered {
  readonly effect: string;
  /** The foreground box in this output's coordinates. */
  readonly box: Box | null;
}

export interface ProcessSummary extends SubjectFacts {
  readonly outputs: readonly RenderedOutput[];
  readonly master?: Uint8Array;
  readonly pixelHash?: string;
  readonly times: StageTimes & { total: number };
}

/** The alpha at the source's resolution (width x height), with what was found. */
export interface SegmentSummary extends Pick<SubjectFacts, 'box' | 'confidence' | 'zoomed' | 'subjects' | 'petFound'> {
  readonly width: number;
  readonly height: number;
  readonly alpha: Uint8Array;
  readonly times: StageTimes;
}

export interface CutoutSummary extends Rendered, SubjectFacts {
  /** The foreground box in the output's coordinates. */
  readonly box: Box | null;
  readonly times: Required<Omit<StageTimes, 'classes' | 'model'>> & Pick<StageTimes, 'classes' | 'model'>;
}

export type PipelineReply =
  | { id: number; ok: true; kind: 'segment'; result: SegmentSummary }
  | { id: number; ok: true; kind: 'cutout'; result: CutoutSummary }
  | { id: number; ok: true; kind: 'process' | 'render'; result: ProcessSummary }
  | { id: number; progress: ProgressEvent }
  | { id: number; ok: false; code: ErrorCode; message: string };
