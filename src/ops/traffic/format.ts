import { DAYS } from './buckets.js';
import type { HourOfWeek } from './buckets.js';
import type { TrafficReport } from './traffic.js';
import type { WindowSuggestion } from './windows.js';

/** Darker is busier, relative to the peak hour of the week; a space is an hour without a sample. */
const SCALE = '.:-=+*#%@';

const rps = (value: number): string => (value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(2) : value.toPrecision(2));
const at = ({ day, hour }: HourOfWeek): string => `${day} ${String(hour).padStart(2, '0')}:00`;
const percent = (share: number): string => `${Math.round(share * 100)}%`;

function heatTable(report: TrafficReport): string[] {
  const peak = Math.max(0, ...report.buckets.map((bucket) => bucket.meanRps ?? 0));
  const level = (mean: number | null): string => {
    if (mean === null) return ' ';
    const index = peak > 0 ? Math.min(SCALE.length - 1, Math.floor((mean / peak) * SCALE.length)) : 0;
    return SCALE[index]!;
  };
  const hours = Array.from({ length: 24 }, (_, hour) => String(hour).padStart(2, '0'));
  return [
    `requests/s by hour of the week, ${report.timeZone} clock (scale ${SCALE.split('').join(' ')} from 0 to the peak ${rps(peak)}/s; blank: no sample)`,
    `     ${hours.map((hour) => hour[0]).join('')}`,
    `     ${hours.map((hour) => hour[1]).join('')}`,
    ...DAYS.map((day) => `${day}  ${report.buckets.filter((bucket) => bucket.day === day).map((bucket) => level(bucket.meanRps)).join('')}`),
  ];
}

/** deploy/rollout.yml's `window` block, ready to paste (its keys as src/ops/rollout/config.ts reads them: `time_zone`). */
export function windowYaml(suggestion: WindowSuggestion): string {
  return [
    'window:',
    `  time_zone: ${suggestion.timeZone}`,
    `  start: "${suggestion.start}"`,
    `  end: "${suggestion.end}"`,
    `  days: [${suggestion.days.join(', ')}]`,
  ].join('\n');
}

export function formatTraffic(report: TrafficReport): string {
  const hours = report.windowHours;
  const lines = [
    `petcut traffic: ${report.from} to ${report.to}, ${report.samples} samples every ${report.stepS / 60} min, ${report.missingHours} ${report.missingHours === 1 ? 'hour' : 'hours'} without a sample`,
    `query: ${report.query}`,
    ...(report.warning ? ['', `warning: ${report.warning}`] : []),
    '',
    ...heatTable(report),
    '',
    `quietest ${hours}-hour windows (mean requests/s, share of the peak hour):`,
    ...report.quietest.map((w, i) => `  ${i + 1}. ${at(w.start)} - ${at(w.end)}  ${rps(w.meanRps)}/s  ${percent(w.shareOfPeak)}`),
    '',
    'quietest window of each day:',
    ...report.daily.map((w) => `  ${w.day}  ${at(w.start).slice(4)} - ${at(w.end)}  ${rps(w.meanRps)}/s`),
    '',
    report.suggestion.source === 'measured'
      ? `suggested rollout window (deploy/rollout.yml), the same hours every day, mean ${rps(report.suggestion.meanRps ?? 0)}/s:`
      : 'rollout window (deploy/rollout.yml): the plan\'s default, too little data to measure one:',
    windowYaml(report.suggestion),
  ];
  return `${lines.join('\n')}\n`;
}
