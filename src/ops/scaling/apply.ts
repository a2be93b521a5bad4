import { PetcutError } from '../../errors.js';
import type { Scaling } from '../../scaling/schedule.js';
import { EtagConflictError } from '../cloudrun/errors.js';
import type { CloudRun, Service, ServiceRef } from '../cloudrun/types.js';

/**
 * The service-level minimum and maximum instances (Service.scaling, not the
 * revision template's): changing them creates no revision and moves no
 * traffic, so a schedule step may land in the middle of a rollout. The
 * service goes back whole with its etag; template, traffic and annotations
 * (the rollout's record, petcut.dev/rollout) go back exactly as they were read.
 */
export interface ScalingChange {
  /** Before the change; undefined when the service had no service-level scaling. max 0: no service-level maximum. */
  readonly before: Scaling | undefined;
  readonly after: Scaling;
  /** False when the service already had these values (nothing was sent). */
  readonly changed: boolean;
  /** The service as it is afterwards (as read, when nothing changed). */
  readonly service: Service;
}

/** A conflict means someone else changed the service between our read and write: read again, this many times more. */
const ETAG_RETRIES = 3;
/** Cloud Run's limits for ServiceScaling. */
const MOST_INSTANCES = 1000;

export function serviceScaling(service: Service): Scaling | undefined {
  const scaling = service.scaling;
  if (!scaling || (scaling.minInstanceCount === undefined && scaling.maxInstanceCount === undefined)) return undefined;
  // proto3 JSON leaves zeros out: an absent count is 0.
  return { min: scaling.minInstanceCount ?? 0, max: scaling.maxInstanceCount ?? 0 };
}

export function checkScaling(target: Scaling): void {
  const whole = (n: number, low: number): boolean => Number.isInteger(n) && n >= low && n <= MOST_INSTANCES;
  if (!whole(target.min, 0) || !whole(target.max, 1) || target.min > target.max) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid scaling: min ${target.min}, max ${target.max}: min must be a whole number 0-${MOST_INSTANCES}, max 1-${MOST_INSTANCES}, min not above max`);
  }
}

export async function setServiceScaling(cloudRun: CloudRun, ref: ServiceRef, target: Scaling, options?: { waitMs?: number }): Promise<ScalingChange> {
  checkScaling(target);
  for (let attempt = 0; ; attempt++) {
    const service = await cloudRun.getService(ref);
    const before = serviceScaling(service);
    if (before && before.min === target.min && before.max === target.max) return { before, after: target, changed: false, service };
    const scaling = { ...service.scaling, minInstanceCount: target.min, maxInstanceCount: target.max };
    try {
      const updated = await cloudRun.updateService(ref, { ...service, scaling }, options?.waitMs === undefined ? undefined : { waitMs: options.waitMs });
      return { before, after: target, changed: true, service: updated };
    } catch (error) {
      if (!(error instanceof EtagConflictError) || attempt >= ETAG_RETRIES) throw error;
    }
  }
}

export const describeScaling = (scaling: Scaling | undefined): string =>
  (scaling === undefined ? 'none (revision settings only)' : `min ${scaling.min}, max ${scaling.max === 0 ? 'unset' : scaling.max}`);
