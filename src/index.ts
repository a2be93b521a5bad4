export { createEngine, describeModel } from './engine.js';
export type { Engine, CutoutOptions, CutoutResult } from './engine.js';
export { loadEngineConfig } from './config.js';
export type { EngineConfig } from './config.js';
export { PetcutError, isPetcutError, ERRORS } from './errors.js';
export type { ErrorCode } from './errors.js';
export { MODELS } from './inference/models.js';
export { FORMATS } from './image/formats.js';
