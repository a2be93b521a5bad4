// report.json (the numbers), report.html (self-contained: tables and inline SVG
// charts) and PNG charts for CI logs, all in one folder.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { svgToPng } from '../../image/svg.js';
import { latencyHistogramSvg, latencyOverTimeSvg, throughputSvg } from './charts.js';
import type { Second } from './charts.js';
import type { RunResult } from './runner.js';
import { countBy, isServiceError, summarize } from './stats.js';
import type { Sample, Summary } from './stats.js';
import type { ThresholdResult } from './thresholds.js';
import { makeDirs } from '../../fsDirs.js';

export interface ReportMeta { profile: string; target: string; scale: number; size: string; arrival: string; profilesFile: string; sloFile: string }

export interface Report {
  meta: ReportMeta & { startedAt: string; wallS: number };
  passed: boolean;
  thresholds: ThresholdResult[];
  arrivals: RunResult['streams'];
  routes: Record<string, Summary>;
  stages: Record<string, Record<string, Summary>>;
  statuses: Record<string, number>;
  codes: Record<string, number>;
  cache: Record<string, number>;
  throughput: Second[];
  generator: RunResult['generator'];
  coldCommand?: RunResult['coldCommand'];
}

function perSecond(samples: readonly Sample[]): Second[] {
  const primary = samples.filter((s) => !s.step);
  const last = Math.ceil(Math.max(0, ...primary.map((s) => (s.at + s.ms) / 1000)));
  const seconds: Second[] = Array.from({ length: last }, (_, second) => ({ second, sent: 0, done: 0, ok: 0, errors: 0, overloaded: 0 }));
  for (const s of primary) {
    seconds[Math.floor(s.at / 1000)]!.sent++;
    const done = seconds[Math.min(last - 1, Math.floor((s.at + s.ms) / 1000))]!;
    done.done++;
    if (s.status >= 200 && s.status < 400) done.ok++;
    if (isServiceError(s.status)) done.errors++;
    if (s.status === 503) done.overloaded++;
  }
  return seconds;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const list = groups.get(key(item));
    if (list) list.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}

export function buildReport(meta: ReportMeta, run: RunResult, thresholds: ThresholdResult[]): Report {
  const answered = run.samples.filter((s) => s.status >= 200 && s.status < 400);
  const routes = Object.fromEntries([...groupBy(answered, (s) => s.route)].map(([route, list]) => [route, summarize(list.map((s) => s.ms))]));
  const stages: Report['stages'] = {};
  for (const [route, list] of groupBy(answered.filter((s) => s.stages), (s) => s.route)) {
    const names = [...new Set(list.flatMap((s) => Object.keys(s.stages!)))];
    stages[route] = Object.fromEntries(names.map((name) => [name, summarize(list.flatMap((s) => (s.stages![name] === undefined ? [] : [s.stages![name]])))]));
  }
  const primary = run.samples.filter((s) => !s.step);
  return {
    meta: { ...meta, startedAt: run.startedAt, wallS: run.wallS },
    passed: thresholds.every((t) => t.pass), thresholds, arrivals: run.streams, routes, stages,
    statuses: countBy(primary, (s) => String(s.status)), codes: countBy(run.samples, (s) => s.code), cache: countBy(primary, (s) => s.cache),
    throughput: perSecond(run.samples), generator: run.generator, coldCommand: run.coldCommand,
  };
}

const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const table = (head: string[], rows: (string | number)[][]): string => `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`).join('')}</table>`;
const summaryRows = (entries: [string, Summary][]): (string | number)[][] => entries.map(([name, s]) => [name, s.count, s.p50, s.p90, s.p95, s.p99, s.max]);
const PCT_HEAD = ['count', 'P50 ms', 'P90 ms', 'P95 ms', 'P99 ms', 'max ms'];

export function reportHtml(report: Report, charts: Record<string, string>): string {
  const m = report.meta;
  const stageRows = Object.entries(report.stages).flatMap(([route, stages]) => summaryRows(Object.entries(stages).map(([stage, s]) => [`${route} · ${stage}`, s])));
  return `<!doctype html><html><head><meta charset="utf-8"><title>petcut loadtest ${esc(m.profile)}</title><style>
body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.pass{color:#2a7a2a}.fail{color:#b00020;font-weight:bold}
</style></head><body>
<h1>petcut loadtest: ${esc(m.profile)} <span class="${report.passed ? 'pass' : 'fail'}">${report.passed ? 'PASSED' : 'FAILED'}</span></h1>
<p>${esc(m.target)} · started ${esc(m.startedAt)} · ${m.wallS} s · scale ${m.scale} · ${esc(m.size)} photos · ${esc(m.arrival)} arrivals · thresholds from ${esc(m.sloFile)}</p>
<h2>Thresholds</h2>${table(['threshold', 'value', 'limit', 'samples', 'result'], report.thresholds.map((t) => [t.name, t.value, t.limit, t.samples, t.pass ? 'pass' : 'FAIL']))}
<h2>Arrivals (open model)</h2>${table(['stream', 'intended /s', 'achieved /s', 'scheduled', 'sent'], report.arrivals.map((a) => [a.name, a.intendedRps, a.achievedRps, a.scheduled, a.sent]))}
<h2>Latency per route</h2>${table(['route', ...PCT_HEAD], summaryRows(Object.entries(report.routes)))}
<h2>Latency per stage</h2><p>Cut-outs: Server-Timing and X-Processing-Time-Ms (server side); jobs: time between WebSocket stage events (client side).</p>${table(['route · stage', ...PCT_HEAD], stageRows)}
<h2>Statuses, error codes, cache</h2>${table(['status', 'count'], Object.entries(report.statuses))}${table(['code', 'count'], Object.entries(report.codes))}${table(['X-Cache', 'count'], Object.entries(report.cache))}
<h2>Charts</h2>${Object.values(charts).join('\n')}
<h2>Generator</h2>${table(['measure', 'value'], [['/healthz requests/s it can generate (32 in flight)', report.generator.probeRps], ['CPU share of one core during the run', report.generator.cpuShareOfOneCore], ['send lag P50 / P99 / max ms', `${report.generator.lagMs.p50} / ${report.generator.lagMs.p99} / ${report.generator.lagMs.max}`]])}
</body></html>
`;
}

/** Writes report.json, report.html and one PNG per chart into `dir`; returns the file names. */
export async function writeReport(dir: string, report: Report, samples: readonly Sample[]): Promise<string[]> {
  await makeDirs(dir);
  const charts = { 'latency-over-time': latencyOverTimeSvg(samples), 'latency-histogram': latencyHistogramSvg(samples), 'throughput': throughputSvg(report.throughput) };
  await writeFile(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(dir, 'report.html'), reportHtml(report, charts));
  const pngs = await Promise.all(Object.entries(charts).map(async ([name, svg]) => {
    await writeFile(join(dir, `${name}.png`), await svgToPng(svg));
    return `${name}.png`;
  }));
  return ['report.json', 'report.html', ...pngs];
}
