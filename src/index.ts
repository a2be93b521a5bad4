export { createEngine, describeModel } from './engine/index.js';
export type { Engine, CutoutOptions, CutoutResult } from './engine/index.js';
export { loadEngineConfig } from './engine/index.js';
export type { EngineConfig } from './engine/index.js';
export { PetcutError, isPetcutError, ERRORS } from './errors.js';
export type { ErrorCode } from './errors.js';
export { MODELS } from './inference/models.js';
export { FORMATS } from './image/formats.js';
