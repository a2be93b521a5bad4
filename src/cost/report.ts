import type { CostEntry, CostParts } from './meter.js';
import type { Prices } from './prices.js';
import { FEATURE_DIMENSIONS, featureViews, overlap, splitBySchedule, usdOf as sum, within } from './views.js';
import type { FeatureCost, FeatureDimension, PeakSplit, ScheduleSegment } from './views.js';

/**
 * The cost report over a time window, from ledger entries of any number of
 * instances. Work and request-fee entries count in the window they ended in
 * (windows are (from, to]);
 * idle entries (at most a minute long) are prorated by their overlap with the
 * window. Idle cost is reported on its own and also shared out to customers
 * in proportion to the busy cost they caused.
 */
export interface CustomerCost {
  readonly shop: string;
  /** The shopper session (reports by session only). */
  readonly session?: string;
  readonly sessions: number;
  readonly images: number;
  readonly busyUsd: number;
  readonly idleUsd: number;
  readonly totalUsd: number;
}

export interface CostReport {
  readonly from: number;
  readonly to: number;
  readonly instances: number;
  readonly spend: Readonly<CostParts> & { readonly total: number };
  readonly images: number;
  readonly requests: number;
  readonly busyUsd: number;
  readonly idleUsd: number;
  /** Idle cost / total spend (0-1). */
  readonly idleShare: number;
  readonly busySeconds: number;
  readonly idleSeconds: number;
  /** Total spend per 1000 images (undefined without images). */
  readonly costPer1000Images?: number;
  readonly customers: readonly CustomerCost[];
  /** Per feature: route, print style, output format, output size, cache answer (src/cost/views.ts). */
  readonly features: Readonly<Record<FeatureDimension, readonly FeatureCost[]>>;
  /** Peak vs off-peak by the scaling schedule's windows (when a schedule was given). */
  readonly schedule?: PeakSplit & { readonly source: string; readonly timeZone: string };
  readonly budget?: { readonly days: number; readonly budgetUsd: number; readonly used: number; readonly dailyUsd: number };
}

/** A shop name for work no shop credential asked for (open storefront, operator, allow-listed address). */
export const NO_SHOP = '(no shop)';
export const NO_SESSION = '(no session)';

const customerName = (c: CustomerCost): string => (c.session === undefined ? c.shop : `${c.shop} / ${c.session}`);

/** Customers are shops, or each shop's shopper sessions. */
export type CustomerLevel = 'shop' | 'session';

/** The schedule the peak split reads: its name and zone, and its segments covering the report's window. */
export interface ReportSchedule {
  readonly source: string;
  readonly timeZone: string;
  readonly segments: readonly ScheduleSegment[];
}

export function buildReport(entries: readonly CostEntry[], window: { from: number; to: number }, prices?: Prices, by: CustomerLevel = 'shop', schedule?: ReportSchedule): CostReport {
  const spend = { vcpu: 0, memory: 0, gpu: 0, requests: 0 };
  let images = 0, requests = 0, idleUsd = 0, busySeconds = 0, idleSeconds = 0;
  const instances = new Set<string>();
  const shops = new Map<string, { shop: string; session?: string; sessions: Set<string>; images: number; busyUsd: number }>();
  for (const entry of entries) {
    const share = entry.kind === 'idle' ? overlap(entry, window) : within(entry.endedAt, window) ? 1 : 0;
    if (share <= 0) continue;
    instances.add(entry.instance);
    for (const kind of ['vcpu', 'memory', 'gpu', 'requests'] as const) spend[kind] += entry.usd[kind] * share;
    if (entry.kind === 'idle') {
      idleUsd += sum(entry.usd) * share;
      idleSeconds += entry.seconds * share;
      continue;
    }
    images += entry.images;
    requests += entry.requests;
    busySeconds += entry.seconds;
    const name = entry.shop ?? NO_SHOP;
    const key = by === 'session' ? `${name}\u0000${entry.session ?? NO_SESSION}` : name;
    const shop = shops.get(key) ?? { shop: name, ...(by === 'session' ? { session: entry.session ?? NO_SESSION } : {}), sessions: new Set<string>(), images: 0, busyUsd: 0 };
    if (entry.session !== undefined) shop.sessions.add(entry.session);
    shop.images += entry.images;
    shop.busyUsd += sum(entry.usd);
    shops.set(key, shop);
  }
  const total = sum(spend);
  const busyUsd = total - idleUsd;
  const customers = [...shops.values()].map((s) => {
    const idleShare = busyUsd > 0 ? idleUsd * (s.busyUsd / busyUsd) : 0;
    return { shop: s.shop, ...(s.session !== undefined ? { session: s.session } : {}), sessions: s.sessions.size, images: s.images, busyUsd: s.busyUsd, idleUsd: idleShare, totalUsd: s.busyUsd + idleShare };
  }).sort((a, b) => b.totalUsd - a.totalUsd || customerName(a).localeCompare(customerName(b)));
  const days = (window.to - window.from) / 86_400_000;
  const budgetUsd = prices ? prices.budgets.daily * days : 0;
  return {
    from: window.from, to: window.to, instances: instances.size,
    spend: { ...spend, total }, images, requests, busyUsd, idleUsd, idleShare: total > 0 ? idleUsd / total : 0, busySeconds, idleSeconds,
    ...(images > 0 ? { costPer1000Images: (total / images) * 1000 } : {}),
    customers,
    features: featureViews(entries, window, idleUsd),
    ...(schedule ? { schedule: { source: schedule.source, timeZone: schedule.timeZone, ...splitBySchedule(entries, window, schedule.segments) } } : {}),
    ...(prices && days > 0 ? { budget: { days, budgetUsd, used: total / budgetUsd, dailyUsd: prices.budgets.daily } } : {}),
  };
}

const money = (usd: number): string => `$${usd.toFixed(2)}`;
const percent = (ratio: number): string => `${(ratio * 100).toFixed(1)} %`;

/** The report as text for a terminal: spend, images, cost per 1000 images, idle share, top customers. */
export function formatReport(report: CostReport, top = 10): string {
  const lines = [
    `petcut cost report ${new Date(report.from).toISOString()} .. ${new Date(report.to).toISOString()} (${report.instances} instance${report.instances === 1 ? '' : 's'})`,
    '',
    `spend              ${money(report.spend.total)}   (vCPU ${money(report.spend.vcpu)}, memory ${money(report.spend.memory)}, GPU ${money(report.spend.gpu)}, requests ${money(report.spend.requests)})`,
    `images             ${report.images}`,
    `cost / 1000 images ${report.costPer1000Images === undefined ? 'n/a (no images)' : money(report.costPer1000Images)}`,
    `idle               ${money(report.idleUsd)} = ${percent(report.idleShare)} of spend (${Math.round(report.idleSeconds)} s idle, ${Math.round(report.busySeconds)} s busy)`,
  ];
  if (report.budget) {
    lines.push(`budget             ${money(report.spend.total)} of ${money(report.budget.budgetUsd)} (${report.budget.days.toFixed(2)} days at ${money(report.budget.dailyUsd)}/day) = ${percent(report.budget.used)}`);
  }
  const bySession = report.customers.some((c) => c.session !== undefined);
  lines.push('', `top ${bySession ? 'sessions' : 'customers'} (idle shared out by busy cost)`);
  if (report.customers.length === 0) lines.push('  (none)');
  else lines.push(`  ${(bySession ? 'shop / session' : 'shop').padEnd(32)} ${'sessions'.padStart(8)} ${'images'.padStart(7)} ${'busy'.padStart(10)} ${'idle'.padStart(10)} ${'total'.padStart(10)} ${'per 1000'.padStart(10)}`);
  for (const c of report.customers.slice(0, top)) {
    const per1000 = c.images > 0 ? money((c.totalUsd / c.images) * 1000) : 'n/a';
    lines.push(`  ${customerName(c).padEnd(32)} ${String(c.sessions).padStart(8)} ${String(c.images).padStart(7)} ${money(c.busyUsd).padStart(10)} ${money(c.idleUsd).padStart(10)} ${money(c.totalUsd).padStart(10)} ${per1000.padStart(10)}`);
  }
  if (report.customers.length > top) lines.push(`  ... ${report.customers.length - top} more`);
  if (report.schedule) lines.push('', ...formatPeakSplit(report, report.schedule));
  for (const dimension of FEATURE_DIMENSIONS) lines.push('', ...formatFeature(dimension, report.features[dimension], top));
  return `${lines.join('\n')}\n`;
}

function formatPeakSplit(report: CostReport, split: NonNullable<CostReport['schedule']>): string[] {
  const share = (usd: number): string => (report.spend.total > 0 ? percent(usd / report.spend.total) : 'n/a');
  const perHour = (usd: number, hours: number): string => (hours > 0 ? money(usd / hours) : 'n/a');
  const line = (name: string, peak: string, w: Omit<PeakSplit['windows'][number], 'window' | 'peak'>): string =>
    `  ${name.padEnd(16)} ${peak.padEnd(5)} ${w.hours.toFixed(1).padStart(8)} ${String(w.images).padStart(7)} ${money(w.spendUsd).padStart(10)} ${share(w.spendUsd).padStart(8)} ${money(w.idleUsd).padStart(10)} ${perHour(w.spendUsd, w.hours).padStart(10)}`;
  return [
    `peak vs off-peak (schedule ${split.source}, ${split.timeZone})`,
    `  ${'window'.padEnd(16)} ${'peak'.padEnd(5)} ${'hours'.padStart(8)} ${'images'.padStart(7)} ${'spend'.padStart(10)} ${'share'.padStart(8)} ${'idle'.padStart(10)} ${'per hour'.padStart(10)}`,
    ...split.windows.map((w) => line(w.window, w.peak ? 'yes' : 'no', w)),
    line('peak', '', split.peak),
    line('off-peak', '', split.offPeak),
  ];
}

const FEATURE_TITLES: Record<FeatureDimension, [string, string]> = {
  route: ['by route', 'photos'], effect: ['by print style (a photo\'s cost split over its outputs)', 'outputs'],
  format: ['by output format', 'outputs'], size: ['by output size', 'outputs'], cache: ['by cache answer', 'photos'],
};

function formatFeature(dimension: FeatureDimension, rows: readonly FeatureCost[], top: number): string[] {
  const [title, counted] = FEATURE_TITLES[dimension];
  const lines = [`${title} (idle shared out by busy cost)`];
  if (rows.length === 0) return [...lines, '  (none)'];
  lines.push(`  ${dimension.padEnd(32)} ${counted.padStart(8)} ${'busy'.padStart(10)} ${'idle'.padStart(10)} ${'total'.padStart(10)}`);
  for (const row of rows.slice(0, top)) {
    lines.push(`  ${row.name.padEnd(32)} ${String(row.count).padStart(8)} ${money(row.busyUsd).padStart(10)} ${money(row.idleUsd).padStart(10)} ${money(row.totalUsd).padStart(10)}`);
  }
  if (rows.length > top) lines.push(`  ... ${rows.length - top} more`);
  return lines;
}
