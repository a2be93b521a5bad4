/** The weekly review report (`petcut report weekly`, GET /v1/admin/report; docs/kpis.md). */
export { collectWeekly, ReportSourceError } from './collect.js';
export type { CollectOptions, ServiceSource } from './collect.js';
export { NO_DATA, REPORT_FORMATS, renderHtml, renderMarkdown, renderReport } from './render.js';
export type { ReportFormat } from './render.js';
export { parseMetricsText } from './metricsText.js';
export type { WeeklyReportData } from './types.js';
