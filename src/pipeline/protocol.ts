import type { MessagePort } from 'node:worker_threads';
import type { ErrorCode } from '../errors.js';
import type { Rendered, RenderOptions } from '../image/render.js';
import type { Box } from '../image/subject.js';
import type { ModelDescription } from '../inference/models.js';
import type { SegmentOptions, StageTimes } from '../segment.js';

/** Messages between the engine (main thread) and its pipeline workers. */
export interface PipelineInit {
  port: MessagePort;
  model: ModelDescription;
  maxPixels: number;
}

export type JobKind = 'cutout' | 'segment';

export interface PipelineRequest {
  id: number;
  kind: JobKind;
  input: Uint8Array;
  options: SegmentOptions & RenderOptions;
}

export interface SegmentSummary {
  readonly width: number;
  readonly height: number;
  readonly alpha: Uint8Array;
  readonly box: Box | null;
  readonly confidence: number;
  readonly zoomed: boolean;
  readonly times: StageTimes;
}

export interface CutoutSummary extends Rendered {
  readonly box: Box | null;
  readonly confidence: number;
  readonly zoomed: boolean;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  readonly times: Required<StageTimes>;
}

export type PipelineReply =
  | { id: number; ok: true; kind: 'segment'; result: SegmentSummary }
  | { id: number; ok: true; kind: 'cutout'; result: CutoutSummary }
  | { id: number; ok: false; code: ErrorCode; message: string };
