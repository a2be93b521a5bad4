import type { Prices } from '../../cost/prices.js';
import { segments } from '../../scaling/schedule.js';
import type { ScalingAt, Schedule } from '../../scaling/schedule.js';
import { offsetMs } from '../../scaling/zone.js';

/**
 * `petcut scale plan`: what applies when, and what the floors cost. A floor
 * (min instances) is billed whether or not it serves: instance-based billing
 * for its whole time (vCPU-seconds, GiB-seconds and, with a GPU, GPU-seconds).
 * Requests served above the floor cost what they cost either way and are left out.
 */
export interface InstanceShape { readonly vcpus: number; readonly memoryGiB: number; readonly gpuType?: string }

export interface PlanSegment extends ScalingAt {
  /** Hours of the segment and idle instance-hours of its floor (min x hours). */
  readonly hours: number;
  readonly instanceHours: number;
  /** USD for the floor: with the GPU, and the same shape without one. */
  readonly gpuUsd?: number;
  readonly cpuUsd: number;
  /** The zone's offset from UTC during it, in minutes (-300 EST, -240 EDT). */
  readonly utcOffsetMinutes: number;
}

export interface Floor { readonly label: string; readonly min: number; readonly hours: number; readonly instanceHours: number; readonly gpuUsd?: number; readonly cpuUsd: number }

export interface ScalingPlan {
  readonly timeZone: string;
  readonly source: string;
  readonly from: Date;
  readonly to: Date;
  readonly shape: InstanceShape;
  readonly segments: readonly PlanSegment[];
  /** By window (with season or override) and floor, in the order first met. */
  readonly floors: readonly Floor[];
  readonly total: { readonly instanceHours: number; readonly gpuUsd?: number; readonly cpuUsd: number };
  /** Instants in the range where the zone's offset changes (DST). */
  readonly offsetChanges: ReadonlyArray<{ readonly at: Date; readonly fromMinutes: number; readonly toMinutes: number }>;
}

/** USD per instance-second of a shape under instance-based billing; the GPU part separately. */
export function instanceRates(prices: Prices, shape: InstanceShape): { cpu: number; gpu?: number } {
  const list = prices.billing.instance;
  const cpu = shape.vcpus * list.vcpuSecond + shape.memoryGiB * list.gibSecond;
  if (!shape.gpuType) return { cpu };
  const gpu = prices.gpus[shape.gpuType];
  if (!gpu) throw new RangeError(`${shape.gpuType} has no price (gpus: ${Object.keys(prices.gpus).join(', ') || 'none'})`);
  return { cpu, gpu: cpu + gpu.second };
}

const cents = (usd: number): number => Math.round(usd * 100) / 100;

export function planScaling(schedule: Schedule, prices: Prices, shape: InstanceShape, from: Date, to: Date): ScalingPlan {
  const rates = instanceRates(prices, shape);
  const list: PlanSegment[] = segments(schedule, from, to).map((segment) => {
    const seconds = (+segment.until - +segment.from) / 1000;
    return {
      ...segment, hours: seconds / 3600, instanceHours: (segment.min * seconds) / 3600,
      ...(rates.gpu !== undefined ? { gpuUsd: segment.min * seconds * rates.gpu } : {}), cpuUsd: segment.min * seconds * rates.cpu,
      utcOffsetMinutes: offsetMs(schedule.timeZone, +segment.from) / 60_000,
    };
  });
  const floors = new Map<string, { label: string; min: number; hours: number; instanceHours: number; gpuUsd?: number; cpuUsd: number }>();
  for (const segment of list) {
    const label = [segment.window, segment.season, segment.override].filter(Boolean).join(' / ');
    const floor = floors.get(`${label}|${segment.min}`) ?? { label, min: segment.min, hours: 0, instanceHours: 0, cpuUsd: 0, ...(rates.gpu !== undefined ? { gpuUsd: 0 } : {}) };
    floor.hours += segment.hours;
    floor.instanceHours += segment.instanceHours;
    floor.cpuUsd += segment.cpuUsd;
    if (floor.gpuUsd !== undefined) floor.gpuUsd += segment.gpuUsd ?? 0;
    floors.set(`${label}|${segment.min}`, floor);
  }
  const sum = (pick: (s: PlanSegment) => number): number => list.reduce((total, s) => total + pick(s), 0);
  return {
    timeZone: schedule.timeZone, source: schedule.source, from, to, shape, segments: list,
    floors: [...floors.values()].map((f) => ({ ...f, cpuUsd: cents(f.cpuUsd), ...(f.gpuUsd !== undefined ? { gpuUsd: cents(f.gpuUsd) } : {}) })),
    total: { instanceHours: sum((s) => s.instanceHours), cpuUsd: cents(sum((s) => s.cpuUsd)), ...(rates.gpu !== undefined ? { gpuUsd: cents(sum((s) => s.gpuUsd ?? 0)) } : {}) },
    offsetChanges: offsetChanges(schedule.timeZone, +from, +to),
  };
}

/** Offset changes in [from, to): hour steps, then a binary search to the minute. */
function offsetChanges(timeZone: string, from: number, to: number): ScalingPlan['offsetChanges'] {
  const changes: Array<{ at: Date; fromMinutes: number; toMinutes: number }> = [];
  const HOUR = 3_600_000;
  for (let at = from; at < to; at += HOUR) {
    const before = offsetMs(timeZone, at);
    const after = offsetMs(timeZone, Math.min(at + HOUR, to));
    if (before === after) continue;
    let low = at;
    let high = Math.min(at + HOUR, to);
    while (high - low > 60_000) {
      const middle = Math.floor((low + high) / 2 / 60_000) * 60_000;
      if (offsetMs(timeZone, middle) === before) low = middle;
      else high = middle;
    }
    changes.push({ at: new Date(high), fromMinutes: before / 60_000, toMinutes: after / 60_000 });
  }
  return changes;
}
