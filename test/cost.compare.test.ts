import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMarkdown } from '../src/cli/costCompare.js';
import { compareCosts, costOption, hourlyArrivals, MEASURED_DEFAULTS, PEAK_FLOORS, ratesOf } from '../src/cost/compare.js';
import type { Deployment, Figures, TrafficProfile } from '../src/cost/compare.js';
import { loadPrices, parsePrices } from '../src/cost/prices.js';
import { instanceRates } from '../src/ops/scaling/plan.js';

/**
 * `petcut cost compare` (docs/cost-choice.md): the model by hand on round
 * prices, the monotonicity a shop relies on, and the built CLI
 * (dist/cli/index.js: `npm run build` first) with its bad flags.
 */
const ROUND = parsePrices(`
currency: USD
billing:
  instance: { vcpuSecond: 0.00001, gibSecond: 0.000001, requestsPerMillion: 0 }
  request: { vcpuSecond: 0.00002, gibSecond: 0.000002, requestsPerMillion: 1 }
gpus:
  nvidia-l4: { second: 0.0001 }
budgets: { daily: 1, weekly: 7, monthly: 30 }
`);
const SHIPPED = loadPrices();
const ALL_DAY = Array.from({ length: 24 }, (_, hour) => hour);

const cpu = (over: Partial<Deployment> = {}): Deployment => ({
  name: 'cpu', label: 'cpu', vcpus: 1, memoryGiB: 1, billing: 'request', concurrency: 1, secondsPerImage: 2,
  coldStartSeconds: 0, minInstances: 0, idleSeconds: 900, targetUtilisation: 0.6, ...over,
});
const figures = (over: Partial<Figures> = {}): Figures => ({
  cpu: MEASURED_DEFAULTS.cpu, gpu: MEASURED_DEFAULTS.gpu, idleSeconds: 900, targetUtilisation: 0.6, peakFloors: PEAK_FLOORS, ...over,
});
const traffic = (imagesPerDay: number, peakShare = 0.5): TrafficProfile => ({ imagesPerDay, peakShare });

describe('cost compare model: by hand', () => {
  it('spreads the day: the peak hours share peakShare, the other 20 hours the rest', () => {
    const hours = hourlyArrivals(traffic(3000, 0.5));
    expect(hours.reduce((a, b) => a + b, 0)).toBeCloseTo(3000, 9);
    expect(hours[18]).toBeCloseTo(375, 9);
    expect(hours[21]).toBeCloseTo(375, 9);
    expect(hours[22]).toBeCloseTo(75, 9);
    expect(hours[3]).toBeCloseTo(75, 9);
  });

  it('quiet hours get no images; their share goes to the other off-peak hours', () => {
    const hours = hourlyArrivals({ imagesPerDay: 3000, peakShare: 0.5, quietHours: [0, 1, 2, 3, 4, 5, 6] });
    expect(hours.slice(0, 7)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(hours[7]).toBeCloseTo(1500 / 13, 9);
    expect(hours[19]).toBeCloseTo(375, 9);
    expect(hours.reduce((a, b) => a + b, 0)).toBeCloseTo(3000, 9);
  });

  it('after a busy hour, an empty one pays the idle tail; the first image after an empty hour is a cold start', () => {
    // 360 images in 18:00-19:00 only, 2 s each: one instance, up all that hour, 900 s more in the next, started once.
    const one = cpu({ billing: 'instance', coldStartSeconds: 10 });
    const result = costOption(ROUND, { imagesPerDay: 360, peakShare: 1, peakHours: [18] }, one, 1);
    expect(result.coldStartsPerDay).toBeCloseTo(1, 9);
    expect(result.instanceHours).toBeCloseTo((3600 * (1 - Math.exp(-0.1 * 902)) + 900 + 10) / 3600, 9);
    expect(result.dailyUsd).toBeCloseTo(result.instanceHours * 3600 * 0.000011, 12);
  });

  it('request-based billing of N images at s seconds is N x s x (vCPU + GiB price) + N x fee', () => {
    // 1000 images a day x 2 s x (1 x 0.00002 + 1 x 0.000002) = $0.044, + 1000 x $0.000001 = $0.045 a day.
    const result = costOption(ROUND, traffic(1000), cpu(), 30);
    expect(result.dailyUsd).toBeCloseTo(0.045, 9);
    expect(result.monthlyUsd).toBeCloseTo(1.35, 9);
    expect(result.usdPer1000).toBeCloseTo(0.045, 9);
    expect(result.where.vcpu).toBeCloseTo(30 * 1000 * 2 * 0.00002, 9);
    expect(result.where.memory).toBeCloseTo(30 * 1000 * 2 * 0.000002, 9);
    expect(result.where.requests).toBeCloseTo(30 * 1000 * 0.000001, 9);
    expect(result.instanceHours).toBeCloseTo((30 * 1000 * 2) / 3600, 6);
    expect(result.idleUsd).toBe(0);
  });

  it('a cold start is an arrival that finds the instance gone: rate x 3600 x exp(-rate x (idle + busy)), each billed for its start', () => {
    // One image an hour, scale-in at once: every image is a cold start but for the chance of one inside the last 2 s.
    const result = costOption(ROUND, { imagesPerDay: 24, peakShare: 1, peakHours: ALL_DAY }, cpu({ idleSeconds: 0, coldStartSeconds: 10 }), 1);
    const colds = 24 * Math.exp(-2 / 3600);
    expect(result.coldStartsPerDay).toBeCloseTo(colds, 9);
    expect(result.coldStartUsd).toBeCloseTo(colds * 10 * 0.000022, 12);
    expect(result.dailyUsd).toBeCloseTo((24 * 2 + colds * 10) * 0.000022 + 24 * 0.000001, 12);
  });

  it('instance-based billing with a floor of 1 all day pays 24 h: instanceRates x 86400 (as petcut scale plan)', () => {
    const l4 = cpu({ billing: 'instance', gpuType: 'nvidia-l4', vcpus: 4, memoryGiB: 16, minInstances: 1 });
    const result = costOption(ROUND, traffic(100), l4, 30);
    const rate = instanceRates(ROUND, { vcpus: 4, memoryGiB: 16, gpuType: 'nvidia-l4' }).gpu!;
    expect(rate).toBeCloseTo(4 * 0.00001 + 16 * 0.000001 + 0.0001, 12);
    expect(result.monthlyUsd).toBeCloseTo(30 * 86400 * rate, 6);
    expect(result.instanceHours).toBeCloseTo(720, 9);
    expect(result.where.gpu).toBeCloseTo(30 * 86400 * 0.0001, 6);
    expect(result.where.requests).toBe(0);
    // 100 images x 2 s of work a day at concurrency 1: the rest of the day is idle.
    expect(result.idleUsd).toBeCloseTo(30 * (86400 - 200) * rate, 6);
    expect(result.coldStartsPerDay).toBe(0);
  });

  it('needs ceil(work / (3600 x concurrency x utilisation)) instances in an hour', () => {
    // 3600 images in one hour x 2 s = 7200 s of work; / (3600 x 1 x 0.5) = 4 instances, billed the whole hour.
    const busy = costOption(ROUND, { imagesPerDay: 3600, peakShare: 1, peakHours: [18] }, cpu({ billing: 'instance', targetUtilisation: 0.5, idleSeconds: 0 }), 1);
    expect(busy.peakInstances).toBe(4);
    expect(busy.instanceHours).toBeCloseTo(3 + (1 - Math.exp(-2)), 9);
    expect(costOption(ROUND, { imagesPerDay: 3600, peakShare: 1, peakHours: [18] }, cpu({ billing: 'instance', targetUtilisation: 0.5, concurrency: 2 }), 1).peakInstances).toBe(2);
  });

  it('the money by kind adds up to the total, and the shipped prices match ratesOf', () => {
    for (const option of compareCosts(SHIPPED, traffic(3000), figures()).options) {
      expect(option.where.vcpu + option.where.memory + option.where.gpu + option.where.requests).toBeCloseTo(option.monthlyUsd, 9);
      expect(option.idleUsd + option.coldStartUsd).toBeLessThanOrEqual(option.monthlyUsd - option.where.requests + 1e-9);
    }
    const rates = ratesOf(SHIPPED, { vcpus: 8, memoryGiB: 32, gpuType: 'nvidia-l4', billing: 'instance' });
    expect(rates.vcpu + rates.memory + rates.gpu).toBeCloseTo(instanceRates(SHIPPED, { vcpus: 8, memoryGiB: 32, gpuType: 'nvidia-l4' }).gpu!, 15);
  });

  it('refuses what Cloud Run or the price file cannot price, naming the field', () => {
    expect(() => costOption(ROUND, traffic(10), cpu({ gpuType: 'nvidia-l4' }))).toThrow('a GPU service needs instance-based billing');
    expect(() => costOption(ROUND, traffic(10), cpu({ minInstances: 1 }))).toThrow('minInstances above 0 need instance-based billing');
    expect(() => costOption(ROUND, traffic(10), cpu({ billing: 'instance', gpuType: 'nvidia-h100' }))).toThrow('nvidia-h100 has no price');
    expect(() => costOption(ROUND, traffic(10), cpu({ secondsPerImage: 0 }))).toThrow('cpu: secondsPerImage must be a number above 0');
    expect(() => costOption(ROUND, traffic(10), cpu({ targetUtilisation: 1.5 }))).toThrow('targetUtilisation must be above 0 and at most 1');
    expect(() => costOption(ROUND, traffic(10), cpu({ billing: 'instance', minInstances: [1, 2] }))).toThrow('minInstances must be one number or 24');
    expect(() => costOption(ROUND, traffic(0), cpu())).toThrow('imagesPerDay must be a number above 0');
    expect(() => costOption(ROUND, traffic(10, 1.2), cpu())).toThrow('peakShare must be 0-1');
  });
});

describe('cost compare model: what moves which way', () => {
  const byName = (imagesPerDay: number, over: Partial<Figures> = {}) => new Map(compareCosts(SHIPPED, traffic(imagesPerDay), figures(over)).options.map((o) => [o.name, o]));

  it('more images cost more a month; instance-based costs less per image as traffic grows (the idle time is shared)', () => {
    let last = byName(30);
    for (const n of [300, 3000, 30_000, 100_000]) {
      const now = byName(n);
      for (const [name, option] of now) expect(option.monthlyUsd, `${name} at ${n}`).toBeGreaterThanOrEqual(last.get(name)!.monthlyUsd - 1e-9);
      expect(now.get('l4')!.usdPer1000).toBeLessThan(last.get('l4')!.usdPer1000);
      expect(now.get('cpu-instance')!.usdPer1000).toBeLessThan(last.get('cpu-instance')!.usdPer1000);
      last = now;
    }
  });

  it('a floor never costs less than none; slower images cost more; request-based CPU is the cheapest at the plan\'s traffic', () => {
    for (const n of [30, 300, 3000, 30_000]) {
      const options = byName(n);
      expect(options.get('cpu-instance-peak')!.monthlyUsd).toBeGreaterThanOrEqual(options.get('cpu-instance')!.monthlyUsd - 1e-9);
      expect(options.get('l4-peak')!.monthlyUsd).toBeGreaterThanOrEqual(options.get('l4')!.monthlyUsd - 1e-9);
      expect(options.get('cpu-instance-peak')!.coldStartsPerDay).toBeLessThanOrEqual(options.get('cpu-instance')!.coldStartsPerDay);
    }
    const fast = byName(3000, { cpu: { ...MEASURED_DEFAULTS.cpu, secondsPerImage: 1.5 } }).get('cpu-request')!;
    const now = byName(3000).get('cpu-request')!;
    expect(fast.monthlyUsd).toBeLessThan(now.monthlyUsd);
    const at3000 = [...byName(3000).values()].sort((a, b) => a.monthlyUsd - b.monthlyUsd);
    expect(at3000[0]!.name).toBe('cpu-request');
    expect(at3000.at(-1)!.name).toMatch(/^l4/);
  });

  it('sparse traffic: an instance without a floor scales in between requests, so it bills less than 24 h', () => {
    const sparse = byName(30).get('cpu-instance')!;
    expect(sparse.instanceHours / 30).toBeLessThan(24);
    expect(sparse.coldStartsPerDay).toBeGreaterThan(1);
    expect(byName(30).get('cpu-instance-peak')!.instanceHours).toBeGreaterThan(sparse.instanceHours);
  });
});

describe('docs/cost-choice.md', () => {
  it('holds the table of MEASURED_DEFAULTS at 3000 images a day (after new figures: petcut cost compare --markdown, paste it)', () => {
    const doc = readFileSync(new URL('../docs/cost-choice.md', import.meta.url), 'utf8');
    const table = formatMarkdown(compareCosts(SHIPPED, traffic(3000), figures()));
    expect(doc).toContain(table);
  });
});

const run = promisify(execFile);
const CLI = new URL('../dist/cli/index.js', import.meta.url).pathname;
interface Result { code: number; stdout: string; stderr: string }
async function petcut(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, PETCUT_COST_PRICES: '', PETCUT_SCALING_SCHEDULE: '' }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('petcut cost compare (the built CLI)', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'petcut-compare-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('--json at the plan\'s traffic: the five options, priced from deploy/cost/prices.yml', async () => {
    const result = await petcut(['cost', 'compare', '--json']);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { traffic: { imagesPerDay: number; peakHours: number[] }; figures: { peakFloors: number[] }; options: Array<{ name: string; usdPer1000: number; monthlyUsd: number; instanceHours: number }> };
    expect(out.traffic.imagesPerDay).toBe(3000);
    expect(out.traffic.peakHours).toEqual([18, 19, 20, 21]);
    // The schedule's ordinary day: min 1 from 18:00 to 22:00, 0 otherwise.
    expect(out.figures.peakFloors).toEqual(PEAK_FLOORS);
    expect(out.options.map((o) => o.name)).toEqual(['cpu-request', 'cpu-instance', 'cpu-instance-peak', 'l4', 'l4-peak']);
    const [request, , , l4] = out.options;
    // 1.66 s x (2 x $0.000024 + 4 x $0.0000025) + $0.40 per million, per image (no cold start at this traffic).
    expect(request!.usdPer1000).toBeCloseTo(1000 * (1.66 * (2 * 0.000024 + 4 * 0.0000025) + 0.4e-6), 3);
    // Up all day: 720 h x (8 x $0.000018 + 32 x $0.000002 + $0.0001867) x 3600.
    expect(l4!.instanceHours).toBeCloseTo(720, 1);
    expect(l4!.monthlyUsd).toBeCloseTo(720 * 3600 * (8 * 0.000018 + 32 * 0.000002 + 0.0001867), 0);
  });

  it('the measured figures are flags, and the table says what it assumed', async () => {
    const result = await petcut(['cost', 'compare', '--cpu-seconds-per-image', '1.5', '--cpu-cold-start-s', '3', '--images-per-day', '300']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('300 images/day (50 % in 18:00-22:00');
    expect(result.stdout).toContain('CPU: 2 vCPU, 4 GiB, 1.5 s/image, 1 at a time, cold start 3 s');
    expect(result.stdout).toMatch(/CPU, request-based billing, min 0\s+\$\d+\.\d\d/);
  });

  it('--quiet-hours wraps past midnight and leaves the peak alone; quiet nights cut instance-based hours', async () => {
    const quiet = await petcut(['cost', 'compare', '--quiet-hours', '23-7', '--json']);
    expect(quiet.code).toBe(0);
    const out = JSON.parse(quiet.stdout) as { traffic: { quietHours: number[] }; options: Array<{ name: string; instanceHours: number }> };
    expect(out.traffic.quietHours).toEqual([23, 0, 1, 2, 3, 4, 5, 6]);
    // 16 hours with images + the 15-minute tail into the first quiet hour, every day.
    expect(out.options.find((o) => o.name === 'cpu-instance')!.instanceHours).toBeCloseTo(30 * 16.25, 0);
  });

  it.each([
    [['--peak-share', '2'], '--peak-share: "2" must be a share 0-1'],
    [['--images-per-day', '0'], '--images-per-day: "0" must be a number above 0'],
    [['--cpu-seconds-per-image', 'fast'], '--cpu-seconds-per-image: "fast" must be a number above 0'],
    [['--gpu-cold-start-s', '-1'], '--gpu-cold-start-s: "-1" must be a number, 0 or more'],
    [['--target-utilisation', '0'], '--target-utilisation: "0" must be a share above 0, at most 1'],
    [['--days-per-month', '1.5'], '--days-per-month: "1.5" must be a whole number of days 1-31'],
    [['--gpu', 'nvidia-h100'], '--gpu: nvidia-h100 has no price (gpus in the price file: nvidia-l4)'],
    [['--quiet-hours', '7'], '--quiet-hours: "7" must be local hours "FROM-UNTIL" (0-24, until excluded), like 0-7'],
    [['--quiet-hours', '22-18'], '--quiet-hours: "22-18" leaves no hour for the images outside the peak'],
    [['--bogus'], "unknown option '--bogus'"],
  ])('%j: exit 2 and the flag named', async (args, message) => {
    const result = await petcut(['cost', 'compare', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('a bad price file: exit 2 with the field named', async () => {
    const file = join(dir, 'prices.yml');
    await writeFile(file, 'currency: USD\nbilling: {}\nbudgets: { daily: 1, weekly: 1, monthly: 1 }\n');
    const result = await petcut(['cost', 'compare', '--prices', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('billing.instance: is missing');
  });

  it('--help has an example and the exit codes', async () => {
    const result = await petcut(['cost', 'compare', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('petcut cost compare --cpu-seconds-per-image 1.5 --cpu-cold-start-s 3 --json');
    expect(result.stdout).toContain('Exit codes: 0 printed; 2');
    expect(result.stdout).toContain('--markdown');
  });
});
