// Operations code (deploy manifests; later: scaling schedules, rollout helpers):
// the room's door. It may use src/config.ts, src/errors.ts and the leaf rooms,
// never http/, service/ or engine/ (eslint/boundaries.js).
export { DEFAULT_VALUES_DIR, ENVIRONMENTS, MANAGED_ENV, loadValues, mergeValues, parseValues } from './deploy/values.js';
export type { Environment } from './deploy/values.js';
export { CANDIDATE_TAG, CONTAINER_PORT, PREVIEW_DIGEST, checkImage, imageRepository, renderService, renderYaml } from './deploy/render.js';
export type { CloudRunService, RenderOptions, Rendered } from './deploy/render.js';
export { L4_MINIMUM, MEMORY_GIB_BY_CPU, NOT_IN_ENV, OPTIONAL_SECRETS, REQUIRED_SECRETS } from './deploy/schema.js';
export type { DeployValues, Variant, VariantName } from './deploy/schema.js';
export { EXIT as LOADTEST_EXIT, runLoadtest, SCENARIOS, DEFAULT_PROFILES_FILE } from './loadtest/index.js';
export type { LoadtestFlags } from './loadtest/index.js';
export { CHECKS, CHECK_IDS, DEFAULT_SLO_FILE, SMOKE_STEP_IDS, UnreachableError, formatReport, formatSmokeReport, loadThresholds, runSmoke, runValidation } from './validate/index.js';
export type { CheckId, SmokeOptions, SmokeReport, SmokeStep, SmokeStepId, ValidateOptions, ValidationReport } from './validate/index.js';
export { DEFAULT_TRAFFIC_QUERY, PLAN_DEFAULT_WINDOW, TrafficDataError, formatTraffic, hourOfWeek, readTraffic, windowYaml } from './traffic/index.js';
export type { Bucket, DailyWindow, QuietWindow, TrafficOptions, TrafficReport, WindowSuggestion } from './traffic/index.js';
export { CloudRunError, EtagConflictError } from './cloudrun/errors.js';
export { googleAccessToken } from './cloudrun/auth.js';
export { createCloudRunClient } from './cloudrun/rest.js';
export type { CloudRun, Service, ServiceRef } from './cloudrun/types.js';
export { PrometheusError, createPrometheusClient } from './prometheus/client.js';
export type { PrometheusClient } from './prometheus/client.js';
export { DEFAULT_ROLLOUT_FILE, EXIT as ROLLOUT_EXIT, RolloutFileError, STATE_ANNOTATION, UsageError as RolloutUsageError, createRollout, createWebhook, formatDuration, loadRolloutConfig, readState } from './rollout/index.js';
export type { Outcome, RolloutConfig, RolloutDeps, RolloutState, SmokeResult } from './rollout/index.js';
