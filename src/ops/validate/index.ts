// `petcut validate`: the staging checklist (plan, section 1), scored. docs/validate.md.
export { CHECKS } from './checks.js';
export { CHECK_IDS } from './types.js';
export type { Check, CheckId, CheckResult, ValidateOptions } from './types.js';
export { DEFAULT_SLO_FILE, loadThresholds, percentile } from './thresholds.js';
export { UnreachableError, formatReport, runValidation, scoreOf } from './runner.js';
export type { CheckReport, ValidationReport } from './runner.js';
export { SMOKE_STEP_IDS, formatSmokeReport, runSmoke } from './smoke.js';
export type { SmokeOptions, SmokeReport, SmokeStep, SmokeStepId } from './smoke.js';
