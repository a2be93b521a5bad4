import { instanceRates } from '../ops/scaling/plan.js';
import type { Prices } from './prices.js';

/**
 * `petcut cost compare` (docs/cost-choice.md): what a day of the shop's traffic
 * costs on Cloud Run for a CPU-only service and for the L4 service, under
 * each billing mode and floor. Pure arithmetic over the price file: the
 * instance rates come from `instanceRates` (the same as `petcut scale plan`),
 * request-based rates from the same file's `billing.request`.
 *
 * The model, an hour of the local day at a time (every assumption is in the doc):
 * - arrivals per hour from the profile (the peak window's share, the rest spread
 *   evenly over the other hours), as a Poisson stream;
 * - work: arrivals x seconds per image, done `concurrency` images at a time;
 * - instances for the load: ceil(work / (3600 x concurrency x target utilisation)),
 *   at least the hour's floor;
 * - without a floor, the first instance is up while a request came within the last
 *   idle + busy seconds (Cloud Run keeps an idle instance about 15 minutes):
 *   a share 1 - exp(-rate x (idle + busy)) of the hour; an arrival that finds it
 *   gone is a cold start (billed, and a shopper waits);
 * - instance-based billing pays every second an instance is up; request-based
 *   billing pays the seconds a request is in hand (upper bound: overlapping
 *   requests on one instance are counted apart), the starts, and the request fee.
 */

/**
 * The figures measured for issue #20: the lead updates them here, in one place.
 * Bench keys (`npm run bench`): cpu.secondsPerImage = stages12mp.total / 1000;
 * cpu.coldStartSeconds = cold.processToFirst12mpCutoutMs / 1000; cpu.concurrency =
 * throughput.c2 / throughput.c1 rounded (bench/baseline/issue-13.json: 0.819 / 0.807,
 * so two images in flight finish no faster than one at a time on 2 vCPU).
 * The L4 figures are estimates, never measured (docs/loadtest.md#capacity and the plan).
 */
export const MEASURED_DEFAULTS = Object.freeze({
  cpu: Object.freeze({
    /** The CPU service: 2 vCPU, 4 GiB (the shape of the 2-core machine it was measured on). */
    vcpus: 2,
    memoryGiB: 4,
    /** Warm 12 MP JPEG -> PNG end to end, seconds (bench stages12mp.total after #20: 1.66; before 1.9; target 1.5). */
    secondsPerImage: 1.66,
    /** Process start -> first 12 MP cut-out, seconds (bench cold.processToFirst12mpCutoutMs after #20: 2.6; before 6.5). */
    coldStartSeconds: 2.6,
    /** Service start -> /readyz, seconds (bench readyz.readyWhenLoaded.readyMs after #20: 1.24): shown in the doc, not priced. */
    readySeconds: 1.24,
    /** Images that finish at full speed at once: 2 in flight, one model run at a time, 2 vCPU shared. */
    concurrency: 1,
  }),
  gpu: Object.freeze({
    gpuType: 'nvidia-l4',
    /** Production's GPU variant (deploy/cloudrun/production.yml: 8 vCPU, 32 GiB, one L4). */
    vcpus: 8,
    memoryGiB: 32,
    /** Estimate: ~0.1 s inference on the L4 + ~0.5 s decode/refine/encode on 8 vCPU (docs/loadtest.md#capacity). */
    secondsPerImage: 0.6,
    /** The plan's figure for the current L4 service (its "30s (first request)"); petcut's own L4 cold start is unmeasured. */
    coldStartSeconds: 30,
    /** Estimate: 4 in flight, ~3.3 images/s (docs/loadtest.md estimates 2-4 photos/s per L4 instance). */
    concurrency: 2,
  }),
  /** Cloud Run scales an idle instance in after up to ~15 minutes (not documented as a fixed figure). */
  idleSeconds: 900,
  /** Cloud Run's autoscaler aims at about 60 % of an instance's concurrency and CPU. */
  targetUtilisation: 0.6,
  traffic: Object.freeze({ imagesPerDay: 3000, peakShare: 0.5 }),
  daysPerMonth: 30,
});

/** The plan's peak, 6-10 PM on the shop's clock (deploy/scaling/schedule.yml's `peak` window). */
export const PEAK_HOURS: readonly number[] = Object.freeze([18, 19, 20, 21]);

export interface TrafficProfile {
  readonly imagesPerDay: number;
  /** Share of the day's images in the peak hours (0-1); the rest is spread evenly over the other hours. */
  readonly peakShare: number;
  /** Local hours (0-23) of the peak window (default PEAK_HOURS). */
  readonly peakHours?: readonly number[];
  /** Local hours outside the peak with no images (a shop's night); their share goes to the other hours. Default none. */
  readonly quietHours?: readonly number[];
}

export type Billing = 'instance' | 'request';

export interface Deployment {
  readonly name: string;
  readonly label: string;
  readonly vcpus: number;
  readonly memoryGiB: number;
  readonly gpuType?: string;
  readonly billing: Billing;
  /** Images one instance finishes at full speed at once. */
  readonly concurrency: number;
  /** Warm busy seconds of one image. */
  readonly secondsPerImage: number;
  /** Seconds from a request finding no instance to its answer (billed, and the shopper waits). */
  readonly coldStartSeconds: number;
  /** Floor: one number for the whole day, or 24 (one per local hour). */
  readonly minInstances: number | readonly number[];
  /** Seconds Cloud Run keeps an idle instance before scaling it in. */
  readonly idleSeconds: number;
  /** Share of an instance's capacity the autoscaler fills before adding one (0-1]. */
  readonly targetUtilisation: number;
}

export interface Split { readonly vcpu: number; readonly memory: number; readonly gpu: number; readonly requests: number }

export interface OptionCost {
  readonly name: string;
  readonly label: string;
  readonly billing: Billing;
  readonly monthlyUsd: number;
  readonly usdPer1000: number;
  readonly dailyUsd: number;
  /** Billed instance-hours a month (request-based: the hours a request was in hand). */
  readonly instanceHours: number;
  readonly coldStartsPerDay: number;
  /** The most instances any hour needs (floor or load). */
  readonly peakInstances: number;
  /** Monthly USD by kind; vcpu + memory + gpu + requests = monthlyUsd. */
  readonly where: Split;
  /** Monthly USD of billed time no image was worked on (instance-based), and of cold starts; both inside `where`. */
  readonly idleUsd: number;
  readonly coldStartUsd: number;
}

interface Rates { readonly vcpu: number; readonly memory: number; readonly gpu: number; readonly request: number }

/** USD per billed second (by kind) and per request. Instance-based: `instanceRates`, as `petcut scale plan`. */
export function ratesOf(prices: Prices, deployment: Pick<Deployment, 'vcpus' | 'memoryGiB' | 'gpuType' | 'billing'>): Rates {
  const { vcpus, memoryGiB, gpuType, billing } = deployment;
  if (billing === 'request') {
    if (gpuType) throw new RangeError('a GPU service needs instance-based billing (Cloud Run requires it)');
    const list = prices.billing.request;
    return { vcpu: vcpus * list.vcpuSecond, memory: memoryGiB * list.gibSecond, gpu: 0, request: list.requestsPerMillion / 1e6 };
  }
  const vcpu = instanceRates(prices, { vcpus, memoryGiB: 0 }).cpu;
  const memory = instanceRates(prices, { vcpus: 0, memoryGiB }).cpu;
  const withGpu = instanceRates(prices, { vcpus, memoryGiB, ...(gpuType ? { gpuType } : {}) });
  return { vcpu, memory, gpu: withGpu.gpu === undefined ? 0 : withGpu.gpu - withGpu.cpu, request: prices.billing.instance.requestsPerMillion / 1e6 };
}

/** Images arriving in each local hour 0-23. */
export function hourlyArrivals(traffic: TrafficProfile): number[] {
  const peak = new Set(traffic.peakHours ?? PEAK_HOURS);
  const quiet = new Set((traffic.quietHours ?? []).filter((hour) => !peak.has(hour)));
  const offPeakHours = 24 - peak.size - quiet.size;
  return Array.from({ length: 24 }, (_, hour) => (peak.has(hour)
    ? (traffic.imagesPerDay * traffic.peakShare) / peak.size
    : offPeakHours > 0 && !quiet.has(hour) ? (traffic.imagesPerDay * (1 - traffic.peakShare)) / offPeakHours : 0));
}

const floorAt = (deployment: Deployment, hour: number): number => (typeof deployment.minInstances === 'number' ? deployment.minInstances : deployment.minInstances[hour] ?? 0);

interface Hour { billedSeconds: number; busySeconds: number; coldStarts: number; instances: number; images: number }

/** Instances an hour needs for its load: ceil(work / (3600 x concurrency x target utilisation)). */
export function instancesFor(deployment: Deployment, images: number): number {
  return images > 0 ? Math.ceil((images * deployment.secondsPerImage) / (3600 * deployment.concurrency * deployment.targetUtilisation)) : 0;
}

/**
 * One local hour of one deployment: billed and busy instance-seconds, cold starts,
 * instances. `before`: the instances up at the end of the hour before (its idle
 * tail runs into this hour; none up means the first image here starts one).
 */
export function costHour(deployment: Deployment, images: number, floor: number, before = 1): Hour {
  const { secondsPerImage: busy, concurrency, idleSeconds, coldStartSeconds } = deployment;
  const work = images * busy;
  const forLoad = instancesFor(deployment, images);
  const perSecond = images / 3600;
  // Poisson arrivals: the first instance is still up when a request came within idle + busy seconds.
  const upShare = floor >= 1 ? 1 : 1 - Math.exp(-perSecond * (idleSeconds + busy));
  const poissonColds = images * Math.exp(-perSecond * (idleSeconds + busy));
  const coldStarts = floor >= 1 || images === 0 ? 0 : before === 0 ? Math.max(1, poissonColds) : poissonColds;
  const starts = coldStarts * coldStartSeconds;
  // An hour without images or floor after one with instances still pays their idle tail (instance-based).
  const tail = images === 0 && floor === 0 ? Math.min(idleSeconds, 3600) * before : 0;
  const billedSeconds = deployment.billing === 'request'
    ? work + starts
    : 3600 * Math.max(floor, forLoad > 0 ? forLoad - 1 + upShare : 0) + tail + starts;
  return { billedSeconds, busySeconds: deployment.billing === 'request' ? work : work / concurrency, coldStarts, instances: Math.max(floor, forLoad), images };
}

export function checkDeployment(deployment: Deployment): void {
  const positive = { vcpus: deployment.vcpus, memoryGiB: deployment.memoryGiB, concurrency: deployment.concurrency, secondsPerImage: deployment.secondsPerImage };
  for (const [field, value] of Object.entries(positive)) if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${deployment.name}: ${field} must be a number above 0`);
  for (const [field, value] of Object.entries({ coldStartSeconds: deployment.coldStartSeconds, idleSeconds: deployment.idleSeconds })) {
    if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${deployment.name}: ${field} must be a number, 0 or more`);
  }
  if (!(deployment.targetUtilisation > 0 && deployment.targetUtilisation <= 1)) throw new RangeError(`${deployment.name}: targetUtilisation must be above 0 and at most 1`);
  const floors = typeof deployment.minInstances === 'number' ? [deployment.minInstances] : deployment.minInstances;
  if (typeof deployment.minInstances !== 'number' && floors.length !== 24) throw new RangeError(`${deployment.name}: minInstances must be one number or 24 (one per hour)`);
  if (floors.some((n) => !Number.isInteger(n) || n < 0)) throw new RangeError(`${deployment.name}: minInstances must be whole numbers, 0 or more`);
  // Idle minimum instances under request-based billing have their own (idle) rate, which the price file does not hold.
  if (deployment.billing === 'request' && floors.some((n) => n > 0)) throw new RangeError(`${deployment.name}: minInstances above 0 need instance-based billing here (prices.yml has no idle rate for request-based billing)`);
}

export function checkTraffic(traffic: TrafficProfile): void {
  if (!(Number.isFinite(traffic.imagesPerDay) && traffic.imagesPerDay > 0)) throw new RangeError('imagesPerDay must be a number above 0');
  if (!(traffic.peakShare >= 0 && traffic.peakShare <= 1)) throw new RangeError('peakShare must be 0-1');
  const peak = traffic.peakHours ?? PEAK_HOURS;
  if (peak.length === 0 || peak.length > 24 || peak.some((h) => !Number.isInteger(h) || h < 0 || h > 23)) throw new RangeError('peakHours must be 1-24 local hours 0-23');
  const quiet = traffic.quietHours ?? [];
  if (quiet.some((h) => !Number.isInteger(h) || h < 0 || h > 23)) throw new RangeError('quietHours must be local hours 0-23');
  if (new Set([...peak, ...quiet]).size === 24 && traffic.peakShare < 1) throw new RangeError('peak and quiet hours cover the whole day: peakShare must be 1');
}

/** A month (daysPerMonth identical days) of one deployment at the profile's traffic. */
export function costOption(prices: Prices, traffic: TrafficProfile, deployment: Deployment, daysPerMonth: number = MEASURED_DEFAULTS.daysPerMonth): OptionCost {
  checkTraffic(traffic);
  checkDeployment(deployment);
  const rates = ratesOf(prices, deployment);
  const arrivals = hourlyArrivals(traffic);
  // The hour before midnight is the day before's last hour: every day is the same day.
  const upAtEnd = (hour: number): number => Math.max(floorAt(deployment, hour), instancesFor(deployment, arrivals[hour]!));
  const hours = arrivals.map((images, hour) => costHour(deployment, images, floorAt(deployment, hour), upAtEnd((hour + 23) % 24)));
  const sum = (pick: (h: Hour) => number): number => hours.reduce((total, h) => total + pick(h), 0) * daysPerMonth;
  const billed = sum((h) => h.billedSeconds);
  const coldStarts = sum((h) => h.coldStarts);
  const startSeconds = coldStarts * deployment.coldStartSeconds;
  const idleSeconds = deployment.billing === 'request' ? 0 : Math.max(0, billed - sum((h) => h.busySeconds) - startSeconds);
  const perSecond = rates.vcpu + rates.memory + rates.gpu;
  const where = { vcpu: billed * rates.vcpu, memory: billed * rates.memory, gpu: billed * rates.gpu, requests: sum((h) => h.images) * rates.request };
  const monthlyUsd = where.vcpu + where.memory + where.gpu + where.requests;
  return {
    name: deployment.name, label: deployment.label, billing: deployment.billing,
    monthlyUsd, usdPer1000: monthlyUsd / ((traffic.imagesPerDay * daysPerMonth) / 1000), dailyUsd: monthlyUsd / daysPerMonth,
    instanceHours: billed / 3600, coldStartsPerDay: coldStarts / daysPerMonth, peakInstances: Math.max(...hours.map((h) => h.instances)),
    where, idleUsd: idleSeconds * perSecond, coldStartUsd: startSeconds * perSecond,
  };
}

export interface Figures {
  readonly cpu: { readonly vcpus: number; readonly memoryGiB: number; readonly secondsPerImage: number; readonly coldStartSeconds: number; readonly concurrency: number };
  readonly gpu: { readonly gpuType: string; readonly vcpus: number; readonly memoryGiB: number; readonly secondsPerImage: number; readonly coldStartSeconds: number; readonly concurrency: number };
  readonly idleSeconds: number;
  readonly targetUtilisation: number;
  /** Floors by local hour for the "minScale 1 in the peak window" options (from the schedule). */
  readonly peakFloors: readonly number[];
}

/** The floors of PEAK_HOURS at 1, the rest 0: the schedule's ordinary day when no schedule file is read. */
export const PEAK_FLOORS: readonly number[] = Object.freeze(Array.from({ length: 24 }, (_, hour) => (PEAK_HOURS.includes(hour) ? 1 : 0)));

/** The five options of docs/cost-choice.md. */
export function standardOptions(figures: Figures): Deployment[] {
  const common = { idleSeconds: figures.idleSeconds, targetUtilisation: figures.targetUtilisation };
  const { gpuType, ...gpu } = figures.gpu;
  const cpu = { ...figures.cpu, ...common };
  const l4 = { ...gpu, gpuType, ...common, billing: 'instance' as const };
  return [
    { name: 'cpu-request', label: 'CPU, request-based billing, min 0', ...cpu, billing: 'request', minInstances: 0 },
    { name: 'cpu-instance', label: 'CPU, instance-based billing, min 0', ...cpu, billing: 'instance', minInstances: 0 },
    { name: 'cpu-instance-peak', label: 'CPU, instance-based billing, min 1 in peak (schedule)', ...cpu, billing: 'instance', minInstances: figures.peakFloors },
    { name: 'l4', label: 'L4 GPU, instance-based billing, min 0', ...l4, minInstances: 0 },
    { name: 'l4-peak', label: 'L4 GPU, instance-based billing, min 1 in peak (schedule)', ...l4, minInstances: figures.peakFloors },
  ];
}

export interface Comparison {
  readonly prices: { readonly effective?: string; readonly source?: string };
  readonly traffic: Required<TrafficProfile>;
  readonly daysPerMonth: number;
  readonly figures: Figures;
  readonly options: readonly OptionCost[];
}

export function compareCosts(prices: Prices, traffic: TrafficProfile, figures: Figures, daysPerMonth: number = MEASURED_DEFAULTS.daysPerMonth): Comparison {
  const effective = prices.effective instanceof Date ? prices.effective.toISOString().slice(0, 10) : prices.effective;
  return {
    prices: { ...(effective ? { effective } : {}), ...(prices.source ? { source: prices.source } : {}) },
    traffic: { peakHours: PEAK_HOURS, quietHours: [], ...traffic }, daysPerMonth, figures,
    options: standardOptions(figures).map((deployment) => costOption(prices, traffic, deployment, daysPerMonth)),
  };
}
