// `petcut traffic`: the quietest hours of the week from the request rate in Prometheus (plan, phase 2). docs/traffic.md.
export { DAYS, bucketSamples, hourOfWeek } from './buckets.js';
export type { Bucket, Day, HourOfWeek } from './buckets.js';
export { PLAN_DEFAULT_WINDOW, dailyQuietest, quietestWindows, suggestWindow } from './windows.js';
export type { DailyWindow, QuietWindow, WindowSuggestion } from './windows.js';
export { DEFAULT_TIME_ZONE, DEFAULT_TRAFFIC_QUERY, MAX_POINTS_PER_QUERY, MIN_DAYS, TrafficDataError, defaultTrafficQuery, readTraffic } from './traffic.js';
export type { TrafficOptions, TrafficReport } from './traffic.js';
export { formatTraffic, windowYaml } from './format.js';
