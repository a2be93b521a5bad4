// The multi-window, multi-burn-rate alerts of the Google SRE workbook ("Alerting
// on SLOs", table 5-8), the ones Sloth generates. A burn rate of N spends the
// error budget N times faster than the period allows; each alert fires when
// both the long window (is it significant?) and the short one (is it still
// happening?) burn faster than the factor, so it resets within minutes of a fix.
export type Window = '5m' | '30m' | '1h' | '2h' | '6h' | '1d' | '3d';

export interface BurnWindows {
  readonly factor: number;
  readonly long: Window;
  readonly short: Window;
}

export interface BurnAlert {
  readonly kind: 'page' | 'ticket';
  readonly severity: 'critical' | 'warning';
  readonly suffix: string;
  readonly windows: readonly BurnWindows[];
}

export const BURN_ALERTS: readonly BurnAlert[] = [
  // 14.4x over 1h spends 2 % of a 30-day budget; 6x over 6h spends 5 %.
  { kind: 'page', severity: 'critical', suffix: 'Page', windows: [{ factor: 14.4, long: '1h', short: '5m' }, { factor: 6, long: '6h', short: '30m' }] },
  // 3x over 1d and 1x over 3d each spend 10 %.
  { kind: 'ticket', severity: 'warning', suffix: 'Ticket', windows: [{ factor: 3, long: '1d', short: '2h' }, { factor: 1, long: '3d', short: '6h' }] },
];

/** Every window some alert reads, shortest first: one recording rule each. */
export const SLI_WINDOWS: readonly Window[] = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'];

const HOURS: Record<Window, number> = { '5m': 5 / 60, '30m': 0.5, '1h': 1, '2h': 2, '6h': 6, '1d': 24, '3d': 72 };

/** Share of the period's error budget that `factor` over `window` spends, e.g. 0.02 for 14.4x over 1h of 30 days. */
export function budgetSpent(windows: BurnWindows, periodDays: number): number {
  return (windows.factor * HOURS[windows.long]) / (periodDays * 24);
}
