import { writeFile } from 'node:fs/promises';
import { Option } from 'commander';
import type { Command } from 'commander';
import { loadPrices } from '../cost/prices.js';
import { isPetcutError } from '../errors.js';
import { CloudRunError, DEFAULT_VALUES_DIR, ENVIRONMENTS, loadValues } from '../ops/index.js';
import { describeScaling, setServiceScaling } from '../ops/scaling/apply.js';
import { exportScheduler } from '../ops/scaling/export.js';
import { planScaling } from '../ops/scaling/plan.js';
import type { InstanceShape, ScalingPlan } from '../ops/scaling/plan.js';
import { loadSchedule, scalingAt } from '../scaling/schedule.js';
import type { Schedule } from '../scaling/schedule.js';
import { addDays, instantOf, offsetMs, wallTime } from '../scaling/zone.js';
import { cloudRunFromEnv, serviceRefOf } from './cloudRun.js';
import type { ServiceFlags } from './cloudRun.js';

/**
 * `petcut scale plan | apply | export --scheduler` (docs/scaling.md). Exit
 * codes (EXIT): 0 done (apply: changed or already so); 1 Cloud Run refused or
 * could not be reached; 2 bad usage, schedule, price or values file.
 */
export const EXIT = { ok: 0, cloud: 1, usage: 2 } as const;

class UsageError extends Error {}

interface CommonFlags extends ServiceFlags { schedule?: string; json?: boolean }
interface PlanFlags extends CommonFlags { week?: boolean; from?: string; prices?: string; gpu: string; vcpus?: string; memoryGib?: string }
interface ApplyFlags extends CommonFlags { at?: string; dryRun?: boolean }
interface ExportFlags extends CommonFlags { scheduler?: boolean; out?: string; year?: string }

const HELP = {
  plan: `
Examples:
  petcut scale plan                          # today (Eastern), with what its floors cost
  petcut scale plan --week                   # Monday-Sunday of this week
  petcut scale plan --week --from 2026-11-02 # a week with the November DST change: UTC times shift by an hour
  petcut scale plan --week --from 2026-11-23 --gpu none --json

Costs are the idle minimum instances under instance-based billing (vCPU, GiB and GPU seconds, deploy/cost/prices.yml);
the shape is --vcpus/--memory-gib, else PETCUT_COST_VCPUS/PETCUT_COST_MEMORY_GIB, else the production GPU variant.
Exit codes: 0 printed; 2 bad usage, schedule or price file.`,
  apply: `
Examples:
  petcut scale apply --env production                        # what the schedule says now
  petcut scale apply --env production --at "2026-11-27 18:00" --dry-run
  petcut scale apply --project p --region us-central1 --service petcut-production --json

Sets the service-level min/max instances (no new revision, no traffic change; safe during a rollout).
Environment: PETCUT_CLOUD_RUN_TOKEN (default: Application Default Credentials), PETCUT_CLOUD_RUN_API.
Exit codes: 0 set (or already so); 1 Cloud Run refused or unreachable; 2 bad usage, schedule or values file.`,
  export: `
Examples:
  petcut scale export --scheduler --env production --out deploy/scaling/scheduler.production.json
  petcut scale export --scheduler --env staging --year 2027

One Cloud Scheduler job per window boundary (time zone of the schedule, cron in local time); seasons and
overrides as their own jobs on their days. deploy/terraform/scheduler.tf creates them from the file.
Exit codes: 0 written; 2 bad usage, schedule or values file.`,
};

/** A local 'YYYY-MM-DD[ HH:MM]' (in the schedule's zone) or an ISO instant with its zone. */
function parseWhen(text: string, schedule: Schedule, flag: string): Date {
  const local = /^(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d))?$/.exec(text.trim());
  if (local) {
    const [, year, month, day, hour = '0', minute = '0'] = local;
    return new Date(instantOf(schedule.timeZone, { year: +year!, month: +month!, day: +day!, minute: +hour * 60 + +minute }));
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new UsageError(`${flag}: "${text}" is not a time (a local "YYYY-MM-DD HH:MM" in ${schedule.timeZone}, or ISO 8601 with a zone)`);
  return new Date(at);
}

const pad = (n: number): string => String(n).padStart(2, '0');
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
function eastern(timeZone: string, at: Date): string {
  const w = wallTime(timeZone, at);
  const offset = offsetMs(timeZone, +at) / 60_000;
  const weekday = DAYS[new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay()];
  return `${weekday} ${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(Math.floor(w.minute / 60))}:${pad(w.minute % 60)} UTC${offset < 0 ? '-' : '+'}${pad(Math.abs(offset) / 60)}`;
}
const utc = (at: Date): string => `${at.toISOString().slice(0, 16).replace('T', ' ')}Z`;
const usd = (n: number | undefined): string => (n === undefined ? '-' : `$${n.toFixed(2)}`);

function shapeOf(flags: PlanFlags, env: NodeJS.ProcessEnv): InstanceShape {
  const gpuVariant = loadValues('production', flags.values).variants.gpu;
  const number = (text: string | undefined, name: string): number | undefined => {
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${name}: "${text}" must be a positive number`);
    return value;
  };
  const vcpus = number(flags.vcpus, '--vcpus') ?? number(env.PETCUT_COST_VCPUS, 'PETCUT_COST_VCPUS') ?? gpuVariant?.cpu ?? 8;
  const memoryGiB = number(flags.memoryGib, '--memory-gib') ?? number(env.PETCUT_COST_MEMORY_GIB, 'PETCUT_COST_MEMORY_GIB') ?? gpuVariant?.memoryGiB ?? 32;
  return { vcpus, memoryGiB, ...(flags.gpu === 'none' ? {} : { gpuType: flags.gpu }) };
}

export function formatPlan(plan: ScalingPlan): string {
  const lines = [`Scaling plan ${utc(plan.from)} - ${utc(plan.to)} (${plan.timeZone}; ${plan.source})`,
    `Floor cost: idle minimum instances, instance-based billing, ${plan.shape.vcpus} vCPU, ${plan.shape.memoryGiB} GiB${plan.shape.gpuType ? `, with and without 1 ${plan.shape.gpuType}` : ''}`, '',
    `${'Eastern'.padEnd(30)}${'UTC'.padEnd(19)}${'window'.padEnd(11)}min max  ${'season / override'.padEnd(26)}${'hours'.padStart(6)} ${'GPU'.padStart(9)} ${'CPU only'.padStart(9)}`];
  let offset: number | undefined;
  for (const s of plan.segments) {
    if (offset !== undefined && s.utcOffsetMinutes !== offset) {
      lines.push(`  -- DST: UTC${offset / 60} -> UTC${s.utcOffsetMinutes / 60}: the same local times are now ${Math.abs(s.utcOffsetMinutes - offset) / 60} h ${s.utcOffsetMinutes > offset ? 'earlier' : 'later'} in UTC --`);
    }
    offset = s.utcOffsetMinutes;
    const tags = [s.season, s.override].filter(Boolean).join(' / ');
    lines.push(`${eastern(plan.timeZone, s.from).padEnd(30)}${utc(s.from).padEnd(19)}${s.window.padEnd(11)}${String(s.min).padStart(3)} ${String(s.max).padStart(3)}  ${tags.padEnd(26)}${s.hours.toFixed(2).padStart(6)} ${usd(s.gpuUsd).padStart(9)} ${usd(s.cpuUsd).padStart(9)}`);
  }
  lines.push('', 'By window and floor:');
  for (const f of plan.floors) lines.push(`  ${f.label.padEnd(34)} min ${f.min}  ${f.hours.toFixed(1).padStart(6)} h  ${f.instanceHours.toFixed(1).padStart(6)} instance-h  GPU ${usd(f.gpuUsd).padStart(9)}  CPU only ${usd(f.cpuUsd).padStart(9)}`);
  lines.push(`  ${'total'.padEnd(34)}        ${' '.repeat(8)}  ${plan.total.instanceHours.toFixed(1).padStart(6)} instance-h  GPU ${usd(plan.total.gpuUsd).padStart(9)}  CPU only ${usd(plan.total.cpuUsd).padStart(9)}`);
  for (const change of plan.offsetChanges) lines.push(`DST change at ${utc(change.at)}: UTC${change.fromMinutes / 60} -> UTC${change.toMinutes / 60}`);
  return `${lines.join('\n')}\n`;
}

async function plan(flags: PlanFlags, env: NodeJS.ProcessEnv): Promise<void> {
  const schedule = loadSchedule(flags.schedule);
  const prices = loadPrices(flags.prices ?? (env.PETCUT_COST_PRICES || undefined));
  const start = flags.from ? parseWhen(flags.from, schedule, '--from') : new Date();
  let day = wallTime(schedule.timeZone, start);
  if (flags.week) day = { ...addDays(day, -((new Date(Date.UTC(day.year, day.month - 1, day.day)).getUTCDay() + 6) % 7)), minute: 0 };
  const from = new Date(instantOf(schedule.timeZone, { ...day, minute: 0 }));
  const to = new Date(instantOf(schedule.timeZone, { ...addDays(day, flags.week ? 7 : 1), minute: 0 }));
  const shape = shapeOf(flags, env);
  if (shape.gpuType && !prices.gpus[shape.gpuType]) throw new UsageError(`--gpu: ${shape.gpuType} has no price (gpus: ${Object.keys(prices.gpus).join(', ') || 'none'}, or none)`);
  const result = planScaling(schedule, prices, shape, from, to);
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatPlan(result));
}

async function apply(flags: ApplyFlags, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  const schedule = loadSchedule(flags.schedule);
  const at = flags.at ? parseWhen(flags.at, schedule, '--at') : new Date();
  const target = scalingAt(schedule, at);
  const ref = serviceRefOf(flags);
  const change = await setServiceScaling(cloudRunFromEnv(env, { dryRun: flags.dryRun, log }), ref, target);
  const what = `${target.window}${target.season ? ` (${target.season})` : ''}${target.override ? ` override ${target.override}` : ''}`;
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ service: ref, at, window: target.window, season: target.season ?? null, override: target.override ?? null, before: change.before ?? null, after: change.after, changed: change.changed, dryRun: Boolean(flags.dryRun) }, null, 2)}\n`);
    return;
  }
  const verb = !change.changed ? 'already' : flags.dryRun ? 'would set (dry run, nothing sent)' : 'set';
  process.stdout.write(`${ref.service} at ${utc(at)} (${eastern(schedule.timeZone, at)}): ${what}\n  ${describeScaling(change.before)} -> ${describeScaling(change.after)}: ${verb}\n`);
}

async function exportJobs(flags: ExportFlags, log: (line: string) => void): Promise<void> {
  if (!flags.scheduler) throw new UsageError('export: say what to export: --scheduler (Cloud Scheduler jobs)');
  const schedule = loadSchedule(flags.schedule);
  const year = flags.year === undefined ? wallTime(schedule.timeZone, Date.now()).year : Number(flags.year);
  if (!Number.isInteger(year) || year < 2000 || year > 2200) throw new UsageError(`--year: "${flags.year}" must be a year like 2027`);
  const result = exportScheduler(schedule, serviceRefOf(flags), year, flags.schedule ?? 'deploy/scaling/schedule.yml');
  const text = `${JSON.stringify(result, null, 2)}\n`;
  // The DST rules of docs/scaling.md are petcut's; how Cloud Scheduler runs a job in a skipped or repeated hour was never checked.
  for (const job of result.jobs.filter((j) => /^\d+ [12] /.test(j.schedule))) log(`petcut scale: warning: ${job.name} (${job.schedule}) is in the hour DST skips or repeats: try it on staging first`);
  if (flags.out) {
    await writeFile(flags.out, text);
    process.stdout.write(`${result.jobs.length} Cloud Scheduler jobs for ${result.service.service}, ${year}, written to ${flags.out}\n`);
  } else {
    process.stdout.write(text);
  }
}

async function run(action: () => Promise<void>, log: (line: string) => void): Promise<number> {
  try {
    await action();
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError || isPetcutError(error)) {
      log(`petcut scale: ${error.message}`);
      return EXIT.usage;
    }
    if (error instanceof CloudRunError) {
      log(`petcut scale: ${error.message}`);
      return EXIT.cloud;
    }
    throw error;
  }
}

function serviceOptions(command: Command): Command {
  return command
    .addOption(new Option('--env <environment>', 'which service (deploy/cloudrun/<env>.yml; default production)').choices(ENVIRONMENTS))
    .option('--values <dir>', 'where the service is defined', DEFAULT_VALUES_DIR)
    .option('--project <id>', 'the Google Cloud project (default: from --values)')
    .option('--region <region>', 'the region (default: from --values)')
    .option('--service <name>', 'the Cloud Run service (default: from --values)');
}

export function registerScaleCommand(program: Command, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): void {
  const scale = program.command('scale').description('the time-based scaling schedule (deploy/scaling/schedule.yml): plan and price it, apply it, export it to Cloud Scheduler');
  const exit = (error: { exitCode: number }): never => process.exit(error.exitCode === 0 ? 0 : EXIT.usage);
  scale.command('plan')
    .description('what applies when (Eastern and UTC) and what the idle minimum instances cost')
    .option('--week', 'the Monday-Sunday week (Eastern) containing --from, not just its day')
    .option('--from <date>', 'a local date "YYYY-MM-DD" (or an ISO time); default now')
    .option('--schedule <file>', 'the schedule (default deploy/scaling/schedule.yml)')
    .option('--prices <file>', 'the price file (default PETCUT_COST_PRICES, else deploy/cost/prices.yml)')
    .option('--gpu <type>', 'the GPU of an instance (nvidia-l4) or none', 'nvidia-l4')
    .option('--vcpus <n>', 'vCPUs of an instance')
    .option('--memory-gib <n>', 'GiB of an instance')
    .option('--values <dir>', 'where the default shape comes from (deploy/cloudrun/)', DEFAULT_VALUES_DIR)
    .option('--json', 'the plan as JSON')
    .addHelpText('after', HELP.plan).exitOverride(exit)
    .action(async (flags: PlanFlags) => { process.exitCode = await run(() => plan(flags, env), log); });
  serviceOptions(scale.command('apply')
    .description('set the service-level min/max instances the schedule gives for --at (default now)')
    .option('--at <time>', 'a local "YYYY-MM-DD HH:MM" (schedule time zone) or an ISO time; default now')
    .option('--schedule <file>', 'the schedule (default deploy/scaling/schedule.yml)')
    .option('--dry-run', 'read the service, print the change, send nothing')
    .option('--json', 'the result as JSON'))
    .addHelpText('after', HELP.apply).exitOverride(exit)
    .action(async (flags: ApplyFlags) => { process.exitCode = await run(() => apply(flags, env, log), log); });
  serviceOptions(scale.command('export')
    .description('write the schedule as Cloud Scheduler jobs (JSON for deploy/terraform/scheduler.tf)')
    .option('--scheduler', 'Cloud Scheduler jobs (HTTP PATCH to the Admin API, OAuth token of the scaling account)')
    .option('--out <file>', 'write here (default stdout)')
    .option('--year <year>', 'the calendar year the jobs\' days are for (default this year in the schedule\'s zone)')
    .option('--schedule <file>', 'the schedule (default deploy/scaling/schedule.yml)'))
    .addHelpText('after', HELP.export).exitOverride(exit)
    .action(async (flags: ExportFlags) => { process.exitCode = await run(() => exportJobs(flags, log), log); });
}
