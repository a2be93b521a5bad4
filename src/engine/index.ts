/**
 * The engine room's one door: everything outside src/engine/ imports from
 * here (lint enforces it). The cut-out core behind it: the model session
 * (inference/), the pipeline workers and their protocol, segmentation, and
 * the pixel code in image/ they run.
 */
export { createEngine, describeModel } from './engine.js';
export type { CutoutOptions, CutoutResult, Engine, EngineOptions, ProcessResult, RunControl, SegmentResult } from './engine.js';
export { loadEngineConfig } from './config.js';
export type { EngineConfig } from './config.js';
export { DEFAULT_TUNING } from './segment.js';
export type { SegmentOptions, StageTimes, Tuning } from './segment.js';
export type { PetTuning } from './pets.js';
export { DEFAULT_PET_TUNING } from './pets.js';
export type { OutputSpec, ProcessOptions, ProgressEvent } from './pipeline/protocol.js';
export type { FoundSubject, SubjectFacts, SubjectMode } from './types.js';
export { SUBJECT_MODES } from './types.js';
