// The load tester's surface for src/ops/index.ts (petcut loadtest, docs/loadtest.md).
export { EXIT, runLoadtest } from './loadtest.js';
export type { LoadtestFlags } from './loadtest.js';
export { SCENARIOS } from './scenarios.js';
export { DEFAULT_PROFILES_FILE } from './profiles.js';
