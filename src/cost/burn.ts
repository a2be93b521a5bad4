import type { BudgetBurn, BurnPeriod } from '../observability/kpiTypes.js';
import { openLedger } from './ledger.js';
import type { CostMeter } from './meter.js';
import type { Prices } from './prices.js';
import { spendIn } from './spend.js';

/**
 * Budget burn for the dashboard: this instance's spend in the current UTC
 * day, ISO week (from Monday 00:00 UTC) and month, against the price file's
 * budgets (deploy/cost/prices.yml). Read from this instance's ledger file
 * (read-only, at most once a minute: a month can hold a row per photo), and
 * never less than the meter's own total when the instance started inside the
 * period (the ledger lags its flush interval; without a ledger the meter is
 * all there is). The whole service's spend is Prometheus'
 * (petcut:cost_usd:increase1d) and `petcut cost report --store`'s.
 */
export const PERIODS: readonly BurnPeriod[] = ['daily', 'weekly', 'monthly'];
const DAY_MS = 86_400_000;

/** Start and end (ms, UTC) of the day, ISO week and month holding `t`. */
export function periodOf(period: BurnPeriod, t: number): { from: number; to: number } {
  const d = new Date(t);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (period === 'daily') return { from: day, to: day + DAY_MS };
  if (period === 'weekly') {
    const from = day - ((d.getUTCDay() + 6) % 7) * DAY_MS;
    return { from, to: from + 7 * DAY_MS };
  }
  return { from: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), to: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

export interface BurnSource {
  burn(): { source: 'ledger' | 'meter'; burn: Record<BurnPeriod, BudgetBurn> };
}

export interface BurnOptions {
  readonly meter: CostMeter;
  readonly ledgerPath?: string;
  readonly budgets: Prices['budgets'];
  /** When this instance started (ms). */
  readonly startedAt: number;
  readonly now?: () => number;
  readonly refreshMs?: number;
  readonly log?: (message: string, error?: unknown) => void;
}

const meterUsd = (meter: CostMeter): number => { const { usd } = meter.totals(); return usd.vcpu + usd.memory + usd.gpu + usd.requests; };

export function createBurnSource(options: BurnOptions): BurnSource {
  const now = options.now ?? Date.now;
  const refreshMs = options.refreshMs ?? 60_000;
  let cached: { at: number; usd: Record<BurnPeriod, number> } | undefined;
  let failing = false;

  const fromLedger = (t: number): Record<BurnPeriod, number> | undefined => {
    if (!options.ledgerPath) return undefined;
    if (cached && t - cached.at < refreshMs && PERIODS.every((p) => periodOf(p, cached!.at).from === periodOf(p, t).from)) return cached.usd;
    try {
      const ledger = openLedger(options.ledgerPath, { readonly: true });
      try {
        const month = periodOf('monthly', t).from;
        const week = periodOf('weekly', t).from;
        const entries = ledger.read(Math.min(month, week), t);
        const usd = Object.fromEntries(PERIODS.map((p) => [p, spendIn(entries, periodOf(p, t).from, t)])) as Record<BurnPeriod, number>;
        cached = { at: t, usd };
        failing = false;
        return usd;
      } finally {
        ledger.close();
      }
    } catch (error) {
      // A ledger not written yet (no flush since start) is not an error worth a log line.
      if (!failing && (error as NodeJS.ErrnoException).code !== 'SQLITE_CANTOPEN') options.log?.('the cost ledger could not be read for the dashboard: the meter\'s totals are shown', error);
      failing = true;
      return undefined;
    }
  };

  return {
    burn() {
      const t = now();
      const ledger = fromLedger(t);
      const total = meterUsd(options.meter);
      const burn = Object.fromEntries(PERIODS.map((period) => {
        const { from, to } = periodOf(period, t);
        const usd = Math.max(ledger?.[period] ?? 0, options.startedAt >= from ? total : 0);
        const budgetUsd = options.budgets[period];
        const elapsed = (t - from) / (to - from);
        const value: BudgetBurn = {
          period, from: new Date(from).toISOString(), usd, budgetUsd, share: usd / budgetUsd,
          projectedUsd: t - from >= 60_000 ? usd / elapsed : null,
        };
        return [period, value];
      })) as Record<BurnPeriod, BudgetBurn>;
      return { source: ledger ? 'ledger' : 'meter', burn };
    },
  };
}
