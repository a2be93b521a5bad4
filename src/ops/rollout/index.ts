export { DEFAULT_ROLLOUT_FILE, RolloutFileError, formatDuration, loadRolloutConfig, parseDuration, parseRolloutConfig } from './config.js';
export type { RolloutConfig } from './config.js';
export { EXIT, UsageError, createRollout } from './rollout.js';
export type { Outcome, Rollout, RolloutDeps, SmokeResult, StartOptions } from './rollout.js';
export { createWebhook } from './notify.js';
export { STATE_ANNOTATION, readState } from './state.js';
export type { RolloutState } from './state.js';
export { inWindow, nextOpening } from './window.js';
