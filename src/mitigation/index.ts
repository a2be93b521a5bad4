import { createCloudRunClient } from '../ops/cloudrun/rest.js';
import { setServiceScaling } from '../ops/scaling/apply.js';
import { loadSchedule, scalingAt } from '../scaling/schedule.js';
import type { MitigationConfig } from './config.js';
import { createMitigations } from './controller.js';
import type { CloudScaler, MitigationDeps, MitigationLog, Mitigations } from './controller.js';
import { createMemoryMitigationStore } from './store.js';
import { createRedisMitigationStore } from './redisStore.js';

export type { MitigationConfig } from './config.js';
export type { Mitigations, MitigationResult, ReceiveSummary } from './controller.js';
export { parseAlertPayload } from './payload.js';
export { ALERT_ACTIONS } from './policy.js';
export type { LocalLimits, MitigationAction } from './types.js';
export { ACTIONS } from './types.js';

export interface MitigationWiring extends Pick<MitigationDeps, 'clock' | 'count' | 'received' | 'onLocal'> {
  readonly log: MitigationLog;
  /** The scaling schedule's file (config.scalingSchedule). */
  readonly scheduleFile: string;
  /** Shared through Redis when set (every instance sees the same mitigations). */
  readonly redis?: { readonly url: string; readonly timeoutMs: number };
}

/** The mitigations as the service runs them: store, schedule and Cloud Run client from the config. */
export function createMitigationsFromConfig(config: MitigationConfig, wiring: MitigationWiring): Mitigations {
  const store = wiring.redis
    ? createRedisMitigationStore({ url: wiring.redis.url, timeoutMs: Math.max(1000, wiring.redis.timeoutMs), onError: () => undefined })
    : createMemoryMitigationStore();
  let schedule: MitigationDeps['schedule'];
  try {
    const loaded = loadSchedule(wiring.scheduleFile);
    schedule = (at) => scalingAt(loaded, at);
  } catch (error) {
    wiring.log.warn({ err: error, file: wiring.scheduleFile }, 'mitigations: the scaling schedule could not be read: Cloud Run actions are skipped');
  }
  return createMitigations({
    ...wiring, store, schedule, cloud: cloudScaler(config),
    policy: config.policy, refreshMs: config.refreshMs, reassertMs: config.reassertMs,
  });
}

function cloudScaler(config: MitigationConfig): CloudScaler | undefined {
  const ref = config.service;
  if (!ref) return undefined;
  const fixed = config.cloudRunToken;
  const cloudRun = createCloudRunClient({ baseUrl: config.cloudRunApi, ...(fixed ? { token: async () => fixed } : {}) });
  return {
    service: `projects/${ref.project}/locations/${ref.region}/services/${ref.service}`,
    async set(target) {
      // Minutes of wait would hold a notification: a scaling change's operation finishes in seconds.
      const change = await setServiceScaling(cloudRun, ref, { min: target.min, max: target.max }, { waitMs: 60_000 });
      return { before: change.before, after: change.after, changed: change.changed };
    },
  };
}
