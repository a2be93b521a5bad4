import type { AlertmanagerPayload } from './payload.js';
import { ALERT_ACTIONS, composeScaling, hasCloudActions, isExpired, localLimits, mitigationsFor } from './policy.js';
import type { MitigationPolicy } from './policy.js';
import type { MitigationStore } from './store.js';
import { ACTIONS, CLOUD_ACTIONS, keyOf } from './types.js';
import type { LocalLimits, Mitigation, MitigationAction, Scaling } from './types.js';

/** How an action went, as petcut_mitigations_total{result} counts it. */
export type MitigationResult = 'applied' | 'already_active' | 'skipped' | 'failed' | 'undone' | 'expired';

/** The service's bounds through the Admin API (src/ops/scaling/apply.ts's setServiceScaling behind it). */
export interface CloudScaler {
  /** The service's full name, for logs and /health. */
  readonly service: string;
  /** Sets them (idempotent: no change when equal); throws when the API refuses. */
  set(target: Scaling): Promise<{ readonly before?: Scaling; readonly after: Scaling; readonly changed: boolean }>;
}

export interface MitigationLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface MitigationDeps {
  readonly policy: MitigationPolicy;
  readonly store: MitigationStore;
  /** Absent when PETCUT_MITIGATION_SERVICE is unset: cloud actions are skipped, the rest still works. */
  readonly cloud?: CloudScaler;
  /** The schedule's bounds at a time (what the service returns to); absent: no schedule, cloud actions skipped. */
  readonly schedule?: (at: Date) => Scaling;
  readonly clock?: () => Date;
  readonly log: MitigationLog;
  /** Every action's outcome (petcut_mitigations_total). */
  readonly count?: (action: MitigationAction, result: MitigationResult) => void;
  /** Every alert in a notification, and whether an action is bound to its name (petcut_mitigation_alerts_total). */
  readonly received?: (status: 'firing' | 'resolved', handled: boolean) => void;
  /** Applies the local limits on this instance (called after every change and every refresh). */
  readonly onLocal?: (limits: LocalLimits) => void;
  /** How often the shared list is re-read and expiries checked (ms). */
  readonly refreshMs: number;
  /** How often the service's bounds are re-asserted while a cloud action is active (ms). */
  readonly reassertMs: number;
}

export interface ReceiveSummary {
  readonly applied: readonly string[];
  readonly undone: readonly string[];
  readonly ignored: number;
  /** The Admin API's outcome when the notification touched the service's bounds. */
  readonly cloud?: MitigationResult;
}

export interface Mitigations {
  /** Acts on one Alertmanager notification. */
  receive(payload: AlertmanagerPayload): Promise<ReceiveSummary>;
  /** Re-reads the shared list, ends what expired, re-asserts the service's bounds (also on a timer). */
  refresh(): Promise<void>;
  active(): readonly Mitigation[];
  limits(): LocalLimits;
  /** Active mitigations per action (the petcut_mitigation_active gauge). */
  counts(): Record<MitigationAction, number>;
  /** What /health shows. */
  view(): Record<string, unknown>;
  close(): Promise<void>;
}

interface CloudView { target?: Scaling; at?: string; error?: string; skipped?: string }

export function createMitigations(deps: MitigationDeps): Mitigations {
  const clock = deps.clock ?? (() => new Date());
  const count = deps.count ?? (() => undefined);
  let active: Mitigation[] = [];
  let storeError: string | undefined;
  let lastSync = 0;
  const cloudView: CloudView = {};
  // One change at a time: a notification and the refresh timer never interleave their reads and writes.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = chain.then(work, work);
    chain = next.catch(() => undefined);
    return next;
  };
  const live = (): Mitigation[] => active.filter((m) => !isExpired(m, clock()));

  const reload = async (): Promise<void> => {
    try {
      active = await deps.store.list();
      if (storeError) deps.log.info({ store: deps.store.kind }, 'mitigation store reachable again');
      storeError = undefined;
    } catch (error) {
      // The last list read stays in force (its expiries still end it): an instance never drops a throttle because Redis blinked.
      if (!storeError) deps.log.warn({ err: error, store: deps.store.kind }, 'mitigation store unreachable: keeping the last list read');
      storeError = (error as Error).message;
    }
    deps.onLocal?.(localLimits(live()));
  };

  const syncCloud = async (): Promise<MitigationResult> => {
    lastSync = Date.now();
    const skipped = !deps.cloud ? 'PETCUT_MITIGATION_SERVICE is not set' : !deps.schedule ? 'no scaling schedule to compose with' : undefined;
    if (skipped || !deps.cloud || !deps.schedule) {
      cloudView.skipped = skipped;
      deps.log.info({ reason: skipped }, 'mitigation: Cloud Run action skipped');
      return 'skipped';
    }
    const target = composeScaling(deps.schedule(clock()), live());
    try {
      const change = await deps.cloud.set(target);
      Object.assign(cloudView, { target, at: clock().toISOString(), error: undefined });
      if (change.changed) deps.log.info({ service: deps.cloud.service, before: change.before, after: change.after }, 'mitigation: service scaling set');
      return 'applied';
    } catch (error) {
      cloudView.error = (error as Error).message;
      deps.log.warn({ err: error, service: deps.cloud.service, target }, 'mitigation: setting the service scaling failed (retried while the mitigation lasts)');
      return 'failed';
    }
  };

  const start = async (mitigation: Mitigation): Promise<boolean> => {
    const key = keyOf(mitigation);
    const existing = active.find((m) => keyOf(m) === key);
    if (existing && !isExpired(existing, clock())) return false;
    if (existing) await deps.store.remove(key);
    return deps.store.add(mitigation);
  };

  const receive = (payload: AlertmanagerPayload): Promise<ReceiveSummary> => serial(async () => {
    await reload();
    const applied: string[] = [];
    const undone: string[] = [];
    const startedCloud: MitigationAction[] = [];
    let ignored = 0;
    let cloudUndone = false;
    for (const alert of payload.alerts) {
      const name = alert.labels.alertname ?? '';
      const actions = ALERT_ACTIONS[name];
      deps.received?.(alert.status, actions !== undefined);
      if (!actions) {
        ignored += 1;
        continue;
      }
      if (alert.status === 'firing') {
        for (const mitigation of mitigationsFor(alert, deps.policy, clock())) {
          if (!await start(mitigation)) {
            count(mitigation.action, 'already_active');
            continue;
          }
          deps.log.info({ alert: name, fingerprint: alert.fingerprint, action: mitigation.action, value: mitigation.value, expiresAt: mitigation.expiresAt }, 'mitigation on');
          applied.push(mitigation.action);
          if (CLOUD_ACTIONS.has(mitigation.action)) startedCloud.push(mitigation.action);
          else count(mitigation.action, 'applied');
        }
        continue;
      }
      for (const action of actions) {
        if (!await deps.store.remove(keyOf({ action, fingerprint: alert.fingerprint }))) continue;
        deps.log.info({ alert: name, fingerprint: alert.fingerprint, action }, 'mitigation off: the alert resolved');
        count(action, 'undone');
        undone.push(action);
        cloudUndone ||= CLOUD_ACTIONS.has(action);
      }
    }
    await reload();
    let cloud: MitigationResult | undefined;
    if (startedCloud.length > 0 || cloudUndone) {
      cloud = await syncCloud();
      for (const action of startedCloud) count(action, cloud);
    }
    return { applied, undone, ignored, ...(cloud ? { cloud } : {}) };
  });

  const refresh = (): Promise<void> => serial(async () => {
    await reload();
    let cloudEnded = false;
    for (const mitigation of active.filter((m) => isExpired(m, clock()))) {
      // Only the instance whose delete succeeded undoes it: the others find it gone.
      if (!await deps.store.remove(keyOf(mitigation)).catch(() => false)) continue;
      deps.log.info({ alert: mitigation.alert, action: mitigation.action, expiresAt: mitigation.expiresAt }, 'mitigation off: it expired');
      count(mitigation.action, 'expired');
      cloudEnded ||= CLOUD_ACTIONS.has(mitigation.action);
    }
    if (cloudEnded) await reload();
    // A scheduled change (Cloud Scheduler at a window's boundary) may have lowered a raised floor: set it again.
    if (cloudEnded || (hasCloudActions(live()) && Date.now() - lastSync >= deps.reassertMs)) await syncCloud();
  });

  const timer = setInterval(() => void refresh().catch((error: unknown) => deps.log.warn({ err: error }, 'mitigation refresh failed')), deps.refreshMs);
  timer.unref();
  void refresh().catch(() => undefined);

  const counts = (): Record<MitigationAction, number> => {
    const now = live();
    return Object.fromEntries(ACTIONS.map((action) => [action, now.filter((m) => m.action === action).length])) as Record<MitigationAction, number>;
  };

  return {
    receive,
    refresh,
    active: live,
    limits: () => localLimits(live()),
    counts,
    view: () => ({
      store: deps.store.kind, ...(storeError ? { storeError } : {}),
      active: live().map(({ action, alert, value, startedAt, expiresAt }) => ({ action, alert, value, startedAt, expiresAt })),
      limits: localLimits(live()),
      cloud: { service: deps.cloud?.service ?? null, ...cloudView },
    }),
    async close() {
      clearInterval(timer);
      await chain;
      await deps.store.close();
    },
  };
}
