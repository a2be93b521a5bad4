import type { BusinessSnapshot } from '../../observability/business.js';
import { TARGETS } from './types.js';
import type { WeeklyReportData } from './types.js';

/**
 * The weekly review as Markdown or HTML: pure (data in, text out). Both are
 * rendered from one list of blocks, so they say the same things; every
 * string from a source (alert names, error codes, URLs) is escaped for the
 * format it goes into.
 */
export type ReportFormat = 'md' | 'html';
export const REPORT_FORMATS: readonly ReportFormat[] = ['md', 'html'];

type Block =
  | { readonly kind: 'h2'; readonly text: string }
  | { readonly kind: 'p'; readonly text: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | { readonly kind: 'table'; readonly head: readonly string[]; readonly rows: ReadonlyArray<readonly string[]> };

export const NO_DATA = 'no data';

const pct = (ratio: number | null | undefined, digits = 1): string => (ratio === null || ratio === undefined ? NO_DATA : `${(ratio * 100).toFixed(digits)} %`);
const ms = (value: number | null): string => (value === null ? NO_DATA : value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`);
const num = (value: number | null | undefined): string => (value === null || value === undefined ? NO_DATA : String(Math.round(value * 100) / 100));
// Under a dollar (a quiet week on one instance) cents would read as $0.00: four decimals there.
const usd = (value: number | null | undefined): string => (value === null || value === undefined ? NO_DATA : `$${value.toFixed(value > 0 && value < 1 ? 4 : 2)}`);
const verdict = (ok: boolean | null): string => (ok === null ? '' : ok ? 'met' : 'MISSED');
const entries = (record: Readonly<Record<string, number>>): string[][] => Object.entries(record).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, String(Math.round(v))]);

function blocks(data: WeeklyReportData): Block[] {
  const out: Block[] = [
    { kind: 'p', text: `Window ${data.window.from} .. ${data.window.to}; generated ${data.generatedAt}.` },
    { kind: 'h2', text: 'Sources' },
    { kind: 'table', head: ['source', 'status', 'detail'], rows: data.sources.map((s) => [s.name, s.status, s.detail ?? '']) },
    ...performance(data), ...cost(data), ...feedback(data.feedback), ...security(data), ...alerts(data),
  ];
  return out;
}

function performance({ performance: p }: WeeklyReportData): Block[] {
  const head: Block = { kind: 'h2', text: 'Performance' };
  if (!p) return [head, { kind: 'p', text: `${NO_DATA}: neither the service's KPIs nor Prometheus answered.` }];
  return [head, { kind: 'p', text: `From ${p.source}.` }, {
    kind: 'table', head: ['measure', 'value', 'target', ''], rows: [
      ['requests', num(p.requests), '', ''],
      ['error rate (5xx)', pct(p.errorRate, 2), `< ${pct(TARGETS.errorRate, 0)}`, verdict(p.errorRate === null ? null : p.errorRate < TARGETS.errorRate)],
      ['processing P50', ms(p.p50Ms), '', ''],
      ['processing P95', ms(p.p95Ms), `< ${ms(TARGETS.warmP95Ms)}`, verdict(p.p95Ms === null ? null : p.p95Ms < TARGETS.warmP95Ms)],
      ['processing P99', ms(p.p99Ms), `< ${ms(TARGETS.warmP99Ms)}`, verdict(p.p99Ms === null ? null : p.p99Ms < TARGETS.warmP99Ms)],
      ['photos processed', num(p.images), '', ''],
      ['processing success', pct(p.successRate), '> 95 %', verdict(p.successRate === null ? null : p.successRate > 0.95)],
      ['cold starts', num(p.coldStarts), '', ''],
      ['cold start (start to model ready)', p.coldStartS === null ? NO_DATA : `${p.coldStartS.toFixed(1)} s`, '< 30 s', verdict(p.coldStartS === null ? null : p.coldStartS < 30)],
      ['cache hit rate', pct(p.cacheHitRate), '', ''],
    ],
  }, ...(Object.keys(p.errorsByCode).length ? [{ kind: 'table' as const, head: ['error code', 'requests'], rows: entries(p.errorsByCode) }] : [])];
}

function cost({ cost: c }: WeeklyReportData): Block[] {
  const head: Block = { kind: 'h2', text: 'Cost' };
  if (!c) return [head, { kind: 'p', text: `${NO_DATA}: no ledger given and the service does not meter its cost.` }];
  return [head, { kind: 'p', text: `From ${c.source}.` }, {
    kind: 'table', head: ['measure', 'value', 'target'], rows: [
      ['spend', usd(c.usd), ''],
      ['photos', num(c.images), ''],
      ['cost per 1000 images', usd(c.usdPer1000Images), `< ${usd(TARGETS.usdPer1000Images)}`],
      ['idle spend', c.idleUsd === null ? NO_DATA : `${usd(c.idleUsd)} (${pct(c.idleShare)})`, ''],
      ...c.budgets.map((b) => [`budget ${b.period}`, `${usd(b.usd)} of ${usd(b.budgetUsd)} (${pct(b.share)})`, '< 90 %']),
    ],
  }, { kind: 'p', text: 'Opportunities:' }, { kind: 'list', items: c.opportunities.length ? c.opportunities : ['none found in these numbers'] }];
}

function feedback(b: BusinessSnapshot | null): Block[] {
  const head: Block = { kind: 'h2', text: 'Feedback' };
  if (!b) return [head, { kind: 'p', text: `${NO_DATA}: the service sent no business KPIs.` }];
  const s = b.satisfaction;
  const out: Block[] = [head, { kind: 'p', text: `From the service instance since ${b.since} (in memory, per instance; Prometheus has the sums: petcut_satisfaction_ratings_total, petcut_widget_events_total).` }, {
    kind: 'table', head: ['measure', 'value', 'target', ''], rows: [
      ['ratings', String(s.good + s.bad), '', ''],
      ['satisfied (good / all)', pct(s.shareGood), `>= ${pct(s.target, 0)}`, verdict(s.shareGood === null ? null : s.shareGood >= s.target)],
      ['widget events', String(b.events.total), '', ''],
      ['downtime (equivalent full-outage minutes)', `${b.revenue.downtimeMinutes} of ${b.revenue.windowMinutes} min (failed share ${pct(b.revenue.failedShare, 2)})`, '', ''],
      ['revenue impact of downtime', b.revenue.lostRevenueUsd === null ? `${NO_DATA} (set PETCUT_ORDER_VALUE_USD${b.revenue.ordersPerDay === null ? ' and PETCUT_ORDERS_PER_DAY' : ''})` : `${usd(b.revenue.lostRevenueUsd)} (${num(b.revenue.lostOrders)} orders at ${usd(b.revenue.orderValueUsd)}, ${num(b.revenue.ordersPerDay)} orders/day ${b.revenue.ordersPerDaySource})`, '', ''],
    ],
  }];
  const used = Object.entries(b.events.byEvent).filter(([, n]) => n > 0);
  if (used.length) out.push({ kind: 'table', head: ['widget event', 'count'], rows: used.map(([event, n]) => [event, String(n)]) });
  if (Object.keys(b.events.styles).length) out.push({ kind: 'table', head: ['style chosen', 'count'], rows: entries(b.events.styles) });
  if (b.experiment) {
    out.push({ kind: 'p', text: `A/B experiment ${b.experiment.name} (variants ${b.experiment.variants.join(', ')}): conversion = sessions that added to cart after a cut-out / sessions that saw one.` });
    out.push({ kind: 'table', head: ['variant', 'sessions', 'saw a cut-out', 'added to cart', 'conversion', 'satisfied'], rows: b.experiment.results.map((r) => [r.variant, String(r.sessions), String(r.sawCutout), String(r.addedToCart), pct(r.conversion), pct(s.byVariant[r.variant]?.shareGood)]) });
  } else {
    out.push({ kind: 'p', text: 'A/B experiment: none configured (PETCUT_EXPERIMENT).' });
  }
  return out;
}

function security({ security: s }: WeeklyReportData): Block[] {
  const head: Block = { kind: 'h2', text: 'Security posture' };
  if (!s) return [head, { kind: 'p', text: `${NO_DATA}: the service's /metrics did not answer.` }];
  const rows = [
    ...entries(s.rateLimitRefusals).map(([rule, n]) => [`rate-limit refusals (${rule})`, n!]),
    ...entries(s.authFailures).map(([code, n]) => [`refused credentials (${code})`, n!]),
    ['origins refused (CORS)', String(s.originRefusals)],
    ...entries(s.mitigationsApplied).map(([action, n]) => [`mitigation applied (${action})`, n!]),
  ];
  return [head, { kind: 'p', text: `From ${s.source}.` }, { kind: 'table', head: ['measure', 'count'], rows }];
}

function alerts({ alerts: a }: WeeklyReportData): Block[] {
  const head: Block = { kind: 'h2', text: 'Alerts' };
  if (!a) return [head, { kind: 'p', text: `${NO_DATA}: no Alertmanager configured (PETCUT_ALERTMANAGER_URL on the service).` }];
  const out: Block[] = [head, { kind: 'p', text: `Firing now, from ${a.source}${a.error ? ` (last answer: ${a.error})` : ''}.` }];
  if (a.firing.length === 0) out.push({ kind: 'p', text: 'None firing.' });
  else out.push({ kind: 'table', head: ['alert', 'severity', 'since', 'summary'], rows: a.firing.map((f) => [f.name, f.severity ?? '', f.startsAt, f.summary ?? '']) });
  return out;
}

export function renderReport(data: WeeklyReportData, format: ReportFormat): string {
  return format === 'html' ? renderHtml(data) : renderMarkdown(data);
}

/** Markdown: table cells escape "|" and line breaks; text escapes what Markdown would read as markup or HTML. */
const mdText = (text: string): string => text.replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`).replace(/\r?\n/g, ' ');

export function renderMarkdown(data: WeeklyReportData): string {
  const lines = [`# ${mdText(data.title)}`, ''];
  for (const block of blocks(data)) {
    if (block.kind === 'h2') lines.push(`## ${mdText(block.text)}`, '');
    else if (block.kind === 'p') lines.push(mdText(block.text), '');
    else if (block.kind === 'list') lines.push(...block.items.map((item) => `- ${mdText(item)}`), '');
    else {
      lines.push(`| ${block.head.map(mdText).join(' | ')} |`, `|${block.head.map(() => '---').join('|')}|`);
      for (const row of block.rows) lines.push(`| ${row.map(mdText).join(' | ')} |`);
      lines.push('');
    }
  }
  return lines.join('\n');
}

const html = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = 'body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}'
  + 'table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}th{background:#f2f2f2}'
  + 'h2{margin-top:2rem;border-bottom:1px solid #ddd}';

export function renderHtml(data: WeeklyReportData): string {
  const body = blocks(data).map((block) => {
    if (block.kind === 'h2') return `<h2>${html(block.text)}</h2>`;
    if (block.kind === 'p') return `<p>${html(block.text)}</p>`;
    if (block.kind === 'list') return `<ul>${block.items.map((item) => `<li>${html(item)}</li>`).join('')}</ul>`;
    const head = `<tr>${block.head.map((cell) => `<th>${html(cell)}</th>`).join('')}</tr>`;
    return `<table><thead>${head}</thead><tbody>${block.rows.map((row) => `<tr>${row.map((cell) => `<td>${html(cell)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  }).join('\n');
  return `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${html(data.title)}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n<h1>${html(data.title)}</h1>\n${body}\n</body>\n</html>\n`;
}
