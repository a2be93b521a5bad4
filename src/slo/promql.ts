// PromQL for the SLIs and the time conditions. Each SLI is an error ratio over
// a window: errors / total, with 0 (not "no data") when there were requests
// but no errors, and no data when there was no traffic at all.
import type { Window } from './burnRates.js';
import type { Sli, TimeCondition } from './schema.js';

function withMatchers(metric: string, matchers: string[]): string {
  const list = matchers.filter((matcher) => matcher.trim() !== '');
  return list.length > 0 ? `${metric}{${list.join(',')}}` : metric;
}

// `(errors or 0 * total) / total`: a 5xx counter that does not exist yet (no
// error since the start) would otherwise make the ratio empty, not 0.
function ratio(errors: string, total: string): string {
  return `(\n  ${errors}\n  or\n  0 * ${total}\n)\n/\n${total}`;
}

/** The error ratio of `sli` over `window`, as one PromQL expression. */
export function errorRatio(sli: Sli, window: Window): string {
  switch (sli.kind) {
    case 'ratio':
      return ratio(`sum(rate(${sli.errors}[${window}]))`, `sum(rate(${sli.total}[${window}]))`);
    case 'latency': {
      // Slower than the threshold = counted, but not in the threshold's bucket.
      // prom-client writes `le` like JavaScript prints the number (5, 0.25, 7.5).
      const matchers = sli.matchers ? [sli.matchers] : [];
      const total = `sum(rate(${withMatchers(`${sli.metric}_count`, matchers)}[${window}]))`;
      const fast = `sum(rate(${withMatchers(`${sli.metric}_bucket`, [...matchers, `le="${sli.threshold}"`])}[${window}]))`;
      return `(\n  ${total}\n  -\n  ${fast}\n)\n/\n${total}`;
    }
    case 'raw':
      return `(${sli.error_query.replaceAll('{{.window}}', window)})\n/\n(${sli.total_query.replaceAll('{{.window}}', window)})`;
  }
}

/** "11-15" -> 1115: month * 100 + day orders dates within a year. */
const monthDay = (text: string): number => Number(text.slice(0, 2)) * 100 + Number(text.slice(3, 5));

// lower AND upper, or lower OR upper when the range wraps (22:00-02:00, Nov-Jan).
function inRange(lower: string, upper: string, wraps: boolean): string {
  return wraps ? `(\n  ${lower}\n  or\n  ${upper}\n)` : `(\n  ${lower}\n  and\n  ${upper}\n)`;
}

/**
 * A label-less vector that exists only while `condition` holds, for
 * `alert and on() condition`. Prometheus' time functions are UTC; shifting
 * time() by the fixed offset gives local time (no DST: EST all year).
 */
export function timeConditionExpr(condition: TimeCondition): string {
  const seconds = Math.round(condition.utc_offset_hours * 3600);
  const local = seconds === 0 ? 'vector(time())' : `vector(time() ${seconds < 0 ? '-' : '+'} ${Math.abs(seconds)})`;
  const parts: string[] = [];
  const { hours, dates } = condition;
  if (hours) parts.push(inRange(`hour(${local}) >= ${hours.from}`, `hour(${local}) < ${hours.to}`, hours.from > hours.to));
  if (dates) {
    const [from, to] = [monthDay(dates.from), monthDay(dates.to)];
    const date = `(month(${local}) * 100 + day_of_month(${local}))`;
    parts.push(inRange(`${date} >= ${from}`, `${date} <= ${to}`, from > to));
  }
  return parts.join('\nand\n');
}

/** Human words for a condition, for annotations and docs: "18:00-22:00, 11-15 to 01-05 (UTC-5)". */
export function describeCondition(condition: TimeCondition): string {
  const parts: string[] = [];
  const pad = (hour: number): string => `${String(hour).padStart(2, '0')}:00`;
  if (condition.hours) parts.push(`${pad(condition.hours.from)}-${pad(condition.hours.to)}`);
  if (condition.dates) parts.push(`${condition.dates.from} to ${condition.dates.to}`);
  const offset = condition.utc_offset_hours;
  return `${parts.join(', ')} (UTC${offset < 0 ? '' : '+'}${offset})`;
}
