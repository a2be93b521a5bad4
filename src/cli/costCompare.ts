import type { Command } from 'commander';
import { compareCosts, MEASURED_DEFAULTS } from '../cost/compare.js';
import type { Comparison, Figures } from '../cost/compare.js';
import { loadPrices } from '../cost/prices.js';
import { isPetcutError } from '../errors.js';
import { loadSchedule } from '../scaling/schedule.js';

/**
 * `petcut cost compare` (docs/cost-choice.md): CPU-only against the L4 at a
 * day's traffic, under each billing mode and floor. Exit codes: 0 printed;
 * 2 a bad flag (named, with what is allowed), price or schedule file.
 */
export const EXIT = { ok: 0, usage: 2 } as const;

class UsageError extends Error {}

export interface CompareFlags {
  imagesPerDay: string; peakShare: string; quietHours?: string; prices?: string; schedule?: string; json?: boolean; markdown?: boolean;
  cpuVcpus: string; cpuMemoryGib: string; cpuSecondsPerImage: string; cpuColdStartS: string; cpuConcurrency: string;
  gpu: string; gpuVcpus: string; gpuMemoryGib: string; gpuSecondsPerImage: string; gpuColdStartS: string; gpuConcurrency: string;
  idleS: string; targetUtilisation: string; daysPerMonth: string;
}

const D = MEASURED_DEFAULTS;

const HELP = `
Examples:
  petcut cost compare                                    # 3000 images/day, half of them 6-10 PM, the measured figures
  petcut cost compare --cpu-seconds-per-image 1.5 --cpu-cold-start-s 3 --json
  petcut cost compare --images-per-day 20000 --peak-share 0.6 --prices my-prices.yml
  petcut cost compare --images-per-day 300 --quiet-hours 0-7     # a small shop with quiet nights
  petcut cost compare --markdown                         # the table of docs/cost-choice.md (paste it there after new figures)

Options: (a) CPU request-based, min 0; (b) CPU instance-based, min 0; (c) CPU instance-based with the
schedule's floors (deploy/scaling/schedule.yml's base week: min 1 in the peak window); (d) the L4 (always
instance-based), min 0 and with the schedule's floors. Peak hours are the schedule's peak windows.
Defaults are MEASURED_DEFAULTS in src/cost/compare.ts (the L4's are estimates, never measured).
Exit codes: 0 printed; 2 a bad flag, price or schedule file (named in the message).`;

/** A number flag that `ok` accepts, or a usage error that names the flag and what is allowed. */
function number(text: string, flag: string, allowed: string, ok: (n: number) => boolean): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value) || !ok(value)) throw new UsageError(`${flag}: "${text}" must be ${allowed}`);
  return value;
}
const positive = (text: string, flag: string): number => number(text, flag, 'a number above 0', (n) => n > 0);
const nonNegative = (text: string, flag: string): number => number(text, flag, 'a number, 0 or more', (n) => n >= 0);

/** Floors and peak hours of the schedule's base week (an ordinary day: no season, no override), by local hour. */
function scheduleDay(path?: string): { floors: number[]; peakHours: number[] } {
  const schedule = loadSchedule(path);
  const windowAt = (minute: number) => schedule.windows.find((w) => (w.from < w.until ? minute >= w.from && minute < w.until : minute >= w.from || minute < w.until))!;
  const hours = Array.from({ length: 24 }, (_, hour) => windowAt(hour * 60));
  return { floors: hours.map((w) => w.min), peakHours: hours.flatMap((w, hour) => (w.peak ? [hour] : [])) };
}

/** "0-7": local hours 0..6 (until excluded; "22-6" wraps past midnight). */
function hourRange(text: string, flag: string): number[] {
  const match = /^(\d{1,2})-(\d{1,2})$/.exec(text.trim());
  const [from, until] = match ? [Number(match[1]), Number(match[2])] : [Number.NaN, Number.NaN];
  if (!(from >= 0 && from <= 23 && until >= 0 && until <= 24 && from !== until)) throw new UsageError(`${flag}: "${text}" must be local hours "FROM-UNTIL" (0-24, until excluded), like 0-7`);
  const hours: number[] = [];
  for (let hour = from; hour !== until % 24 || hours.length === 0; hour = (hour + 1) % 24) hours.push(hour);
  return hours;
}

export function compareFromFlags(flags: CompareFlags, env: NodeJS.ProcessEnv): Comparison {
  const imagesPerDay = positive(flags.imagesPerDay, '--images-per-day');
  const peakShare = number(flags.peakShare, '--peak-share', 'a share 0-1 (0.5: half the day\'s images in the peak window)', (n) => n >= 0 && n <= 1);
  const figures: Figures = {
    cpu: {
      vcpus: positive(flags.cpuVcpus, '--cpu-vcpus'), memoryGiB: positive(flags.cpuMemoryGib, '--cpu-memory-gib'),
      secondsPerImage: positive(flags.cpuSecondsPerImage, '--cpu-seconds-per-image'), coldStartSeconds: nonNegative(flags.cpuColdStartS, '--cpu-cold-start-s'),
      concurrency: positive(flags.cpuConcurrency, '--cpu-concurrency'),
    },
    gpu: {
      gpuType: flags.gpu, vcpus: positive(flags.gpuVcpus, '--gpu-vcpus'), memoryGiB: positive(flags.gpuMemoryGib, '--gpu-memory-gib'),
      secondsPerImage: positive(flags.gpuSecondsPerImage, '--gpu-seconds-per-image'), coldStartSeconds: nonNegative(flags.gpuColdStartS, '--gpu-cold-start-s'),
      concurrency: positive(flags.gpuConcurrency, '--gpu-concurrency'),
    },
    idleSeconds: nonNegative(flags.idleS, '--idle-s'),
    targetUtilisation: number(flags.targetUtilisation, '--target-utilisation', 'a share above 0, at most 1 (0.6: Cloud Run\'s target)', (n) => n > 0 && n <= 1),
    peakFloors: [],
  };
  const days = number(flags.daysPerMonth, '--days-per-month', 'a whole number of days 1-31', (n) => Number.isInteger(n) && n >= 1 && n <= 31);
  const prices = loadPrices(flags.prices ?? (env.PETCUT_COST_PRICES || undefined));
  if (!prices.gpus[flags.gpu]) throw new UsageError(`--gpu: ${flags.gpu} has no price (gpus in the price file: ${Object.keys(prices.gpus).join(', ') || 'none'})`);
  const day = scheduleDay(flags.schedule ?? (env.PETCUT_SCALING_SCHEDULE || undefined));
  if (day.peakHours.length === 0 && peakShare > 0) throw new UsageError('--schedule: no window is marked peak: true, so --peak-share must be 0');
  const peakHours = day.peakHours.length > 0 ? day.peakHours : [18];
  const quietHours = flags.quietHours === undefined ? [] : hourRange(flags.quietHours, '--quiet-hours').filter((hour) => !peakHours.includes(hour));
  if (quietHours.length + peakHours.length === 24 && peakShare < 1) throw new UsageError(`--quiet-hours: "${flags.quietHours}" leaves no hour for the images outside the peak`);
  const traffic = { imagesPerDay, peakShare, peakHours, quietHours };
  return compareCosts(prices, traffic, { ...figures, peakFloors: day.floors }, days);
}

const usd = (n: number): string => `$${n.toFixed(2)}`;

export function formatComparison(c: Comparison): string {
  const { cpu, gpu } = c.figures;
  const peak = `${String(Math.min(...c.traffic.peakHours)).padStart(2, '0')}:00-${String(Math.max(...c.traffic.peakHours) + 1).padStart(2, '0')}:00`;
  const lines = [
    `Cloud Run cost at ${c.traffic.imagesPerDay} images/day (${Math.round(c.traffic.peakShare * 100)} % in ${peak}, the rest spread${c.traffic.quietHours.length ? `, none in ${c.traffic.quietHours.length} quiet hours` : ''}), ${c.daysPerMonth}-day month; prices ${c.prices.effective ?? ''}`.trimEnd(),
    `CPU: ${cpu.vcpus} vCPU, ${cpu.memoryGiB} GiB, ${cpu.secondsPerImage} s/image, ${cpu.concurrency} at a time, cold start ${cpu.coldStartSeconds} s`,
    `L4:  ${gpu.vcpus} vCPU, ${gpu.memoryGiB} GiB, 1 ${gpu.gpuType}, ${gpu.secondsPerImage} s/image, ${gpu.concurrency} at a time, cold start ${gpu.coldStartSeconds} s (estimates)`,
    `Scale-in after ${c.figures.idleSeconds} s idle; target utilisation ${c.figures.targetUtilisation}`, '',
    `${'option'.padEnd(62)}${'$/month'.padStart(10)}${'$/1000'.padStart(9)}${'inst-h/mo'.padStart(11)}${'cold/day'.padStart(10)}${'max inst'.padStart(9)}${'vCPU'.padStart(10)}${'memory'.padStart(9)}${'GPU'.padStart(10)}${'requests'.padStart(10)}${'idle'.padStart(10)}`,
  ];
  for (const o of c.options) {
    lines.push(`${o.label.padEnd(62)}${usd(o.monthlyUsd).padStart(10)}${usd(o.usdPer1000).padStart(9)}${o.instanceHours.toFixed(1).padStart(11)}${o.coldStartsPerDay.toFixed(1).padStart(10)}${String(o.peakInstances).padStart(9)}`
      + `${usd(o.where.vcpu).padStart(10)}${usd(o.where.memory).padStart(9)}${usd(o.where.gpu).padStart(10)}${usd(o.where.requests).padStart(10)}${usd(o.idleUsd).padStart(10)}`);
  }
  lines.push('', 'idle: the part of vCPU + memory + GPU paid while no image was worked on (instance-based billing). Never checked against a real bill.');
  return `${lines.join('\n')}\n`;
}

const LETTERS: Readonly<Record<string, string>> = { 'cpu-request': '(a)', 'cpu-instance': '(b)', 'cpu-instance-peak': '(c)', l4: '(d)', 'l4-peak': '(d)' };

/** The table of docs/cost-choice.md, as that page prints it. */
export function formatMarkdown(c: Comparison): string {
  const lines = ['| option | per month | per 1000 images | instance-h / month | cold starts / day | vCPU | memory | GPU | requests | of which idle |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const o of c.options) {
    lines.push(`| ${[LETTERS[o.name], o.label].filter(Boolean).join(' ')} | ${usd(o.monthlyUsd)} | **${usd(o.usdPer1000)}** | ${o.instanceHours.toFixed(1)} | ${o.coldStartsPerDay.toFixed(1)} | ${[o.where.vcpu, o.where.memory, o.where.gpu, o.where.requests, o.idleUsd].map(usd).join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerCostCompareCommand(cost: Command, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): void {
  const { cpu, gpu, traffic } = D;
  cost.command('compare')
    .description('what a month costs on Cloud Run: CPU-only (request- or instance-based billing, with and without the peak floor) against the L4, per 1000 images and where the money goes')
    .option('--images-per-day <n>', 'images a day', String(traffic.imagesPerDay))
    .option('--peak-share <0-1>', 'share of them in the schedule\'s peak window (18:00-22:00)', String(traffic.peakShare))
    .option('--quiet-hours <from-until>', 'local hours outside the peak with no images, like 0-7 (default none: the rest is spread over every other hour)')
    .option('--prices <file>', 'the price file (default PETCUT_COST_PRICES, else deploy/cost/prices.yml)')
    .option('--schedule <file>', 'floors and peak hours of its base week (default PETCUT_SCALING_SCHEDULE, else deploy/scaling/schedule.yml)')
    .option('--cpu-vcpus <n>', 'vCPUs of a CPU instance', String(cpu.vcpus))
    .option('--cpu-memory-gib <n>', 'GiB of a CPU instance', String(cpu.memoryGiB))
    .option('--cpu-seconds-per-image <s>', 'warm seconds of one 12 MP image on CPU (bench: stages12mp.total)', String(cpu.secondsPerImage))
    .option('--cpu-cold-start-s <s>', 'seconds a request waits for a new CPU instance (bench: cold.processToFirst12mpCutoutMs)', String(cpu.coldStartSeconds))
    .option('--cpu-concurrency <n>', 'images a CPU instance finishes at full speed at once', String(cpu.concurrency))
    .option('--gpu <type>', 'the GPU (a key of gpus in the price file)', gpu.gpuType)
    .option('--gpu-vcpus <n>', 'vCPUs of a GPU instance', String(gpu.vcpus))
    .option('--gpu-memory-gib <n>', 'GiB of a GPU instance', String(gpu.memoryGiB))
    .option('--gpu-seconds-per-image <s>', 'warm seconds of one 12 MP image on the GPU (estimate)', String(gpu.secondsPerImage))
    .option('--gpu-cold-start-s <s>', 'seconds a request waits for a new GPU instance', String(gpu.coldStartSeconds))
    .option('--gpu-concurrency <n>', 'images a GPU instance finishes at full speed at once', String(gpu.concurrency))
    .option('--idle-s <s>', 'seconds Cloud Run keeps an idle instance before scaling it in', String(D.idleSeconds))
    .option('--target-utilisation <0-1>', 'share of an instance\'s capacity filled before another starts', String(D.targetUtilisation))
    .option('--days-per-month <n>', 'days in the month', String(D.daysPerMonth))
    .option('--json', 'the comparison as JSON')
    .option('--markdown', 'the table as docs/cost-choice.md prints it')
    .addHelpText('after', HELP)
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT.usage))
    .action((flags: CompareFlags) => {
      try {
        const comparison = compareFromFlags(flags, env);
        process.stdout.write(flags.json ? `${JSON.stringify(comparison, null, 2)}\n` : flags.markdown ? formatMarkdown(comparison) : formatComparison(comparison));
        process.exitCode = EXIT.ok;
      } catch (error) {
        if (!(error instanceof UsageError || error instanceof RangeError || isPetcutError(error))) throw error;
        log(`petcut cost compare: ${error.message}`);
        process.exitCode = EXIT.usage;
      }
    });
}
