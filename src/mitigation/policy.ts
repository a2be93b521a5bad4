import type { AlertmanagerAlert } from './payload.js';
import { CLOUD_ACTIONS } from './types.js';
import type { LocalLimits, Mitigation, MitigationAction, Scaling } from './types.js';

/**
 * The plan's risk table as data: which alert (deploy/prometheus/alerts.yml)
 * switches on which actions. An alert not named here is accepted and ignored.
 */
export const ALERT_ACTIONS: Readonly<Record<string, readonly MitigationAction[]>> = Object.freeze({
  // "Cold start during traffic spike -> temporary minScale increase" (plan section 8, risk 1).
  PetcutTrafficSurge: ['min_instances'],
  PetcutColdStartsBusinessHours: ['min_instances'],
  // Cost overrun: fewer instances and fewer uploads until the spend is understood.
  PetcutDailyBudget75: ['max_instances', 'throttle'],
  PetcutSpendRateHigh: ['max_instances', 'throttle'],
  PetcutCostSpike: ['max_instances', 'throttle'],
  // Memory pressure: fewer images held at once on each instance.
  PetcutHighMemory: ['concurrency'],
});

export interface MitigationPolicy {
  /** How long an action lasts at most, resolved or not (ms). */
  readonly expiryMs: number;
  /** The service's minimum instances during a traffic surge. */
  readonly minInstances: number;
  /** The service's maximum instances during a cost overrun. */
  readonly maxInstances: number;
  /** Uploads per minute, service-wide, during a cost overrun. */
  readonly uploadsPerMin: number;
  /** Images each instance admits at once under memory pressure. */
  readonly concurrency: number;
}

const VALUE: Record<MitigationAction, (policy: MitigationPolicy) => number> = {
  min_instances: (p) => p.minInstances,
  max_instances: (p) => p.maxInstances,
  throttle: (p) => p.uploadsPerMin,
  concurrency: (p) => p.concurrency,
};

/** The mitigations a firing alert asks for (none for an alert the table does not name). */
export function mitigationsFor(alert: AlertmanagerAlert, policy: MitigationPolicy, now: Date): Mitigation[] {
  const name = alert.labels.alertname ?? '';
  return (ALERT_ACTIONS[name] ?? []).map((action) => ({
    action, alert: name, fingerprint: alert.fingerprint, value: VALUE[action](policy),
    startedAt: now.toISOString(), expiresAt: new Date(now.getTime() + policy.expiryMs).toISOString(),
  }));
}

export const isExpired = (m: Mitigation, now: Date): boolean => Date.parse(m.expiresAt) <= now.getTime();

export const hasCloudActions = (active: readonly Mitigation[]): boolean => active.some((m) => CLOUD_ACTIONS.has(m.action));

/**
 * The service's bounds while mitigations are active: the schedule's, raised
 * to the highest surge floor and lowered to the lowest cost cap. When both
 * apply at once the cap wins (it is the budget) and the minimum never
 * exceeds the maximum (Cloud Run refuses min > max).
 */
export function composeScaling(base: Scaling, active: readonly Mitigation[]): Scaling {
  const floors = active.filter((m) => m.action === 'min_instances').map((m) => m.value);
  const caps = active.filter((m) => m.action === 'max_instances').map((m) => m.value);
  const max = Math.min(base.max, ...caps);
  return { min: Math.min(max, Math.max(base.min, ...floors)), max };
}

/** What every instance applies to itself: the tightest of each kind. */
export function localLimits(active: readonly Mitigation[]): LocalLimits {
  const tightest = (action: MitigationAction): number | undefined => {
    const values = active.filter((m) => m.action === action).map((m) => m.value);
    return values.length ? Math.min(...values) : undefined;
  };
  const uploadsPerMin = tightest('throttle');
  const concurrency = tightest('concurrency');
  return { ...(uploadsPerMin !== undefined ? { uploadsPerMin } : {}), ...(concurrency !== undefined ? { concurrency } : {}) };
}
