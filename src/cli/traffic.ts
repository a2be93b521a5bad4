import { Option } from 'commander';
import type { Command } from 'commander';
import { TrafficDataError, formatTraffic, readTraffic } from '../ops/index.js';
import type { TrafficOptions } from '../ops/index.js';
// Not through the ops door: the rollout helper may export the client there too (one export per name).
import { PrometheusError, createPrometheusClient } from '../ops/prometheus/client.js';

/**
 * `petcut traffic --days 30`: the quietest hours of the week from the request
 * rate in Prometheus, and the rollout window to paste (docs/traffic.md).
 * The token comes from the environment (PETCUT_PROMETHEUS_TOKEN) or Google's
 * credentials (--google), never a flag: argv shows in `ps` and CI logs.
 */
export interface TrafficFlags {
  days: string;
  prometheus?: string;
  google?: string | boolean;
  query?: string;
  windowHours: string;
  timeZone: string;
  step: string;
  json?: boolean;
  /** Hidden: the end of the range (tests replay a fixed history). */
  now?: string;
}

export const EXIT = { ok: 0, usage: 2, unreachable: 3, tooLittleData: 4 } as const;

class UsageError extends Error {}

const managedPrometheus = (project: string): string => `https://monitoring.googleapis.com/v1/projects/${project}/location/global/prometheus`;

const HELP = `
Examples:
  petcut traffic --days 30 --prometheus http://prometheus:9090
  PETCUT_PROMETHEUS_URL=http://localhost:9090 petcut traffic --days 30 --json > traffic.json
  petcut traffic --days 30 --google my-project          # Managed Service for Prometheus, gcloud credentials
  petcut traffic --days 90 --step 5m --window-hours 3 --prometheus http://prometheus:9090
  petcut traffic --days 30 --prometheus http://prometheus:9090 \\
    --query 'sum(rate(petcut_http_requests_total{route=~"/v1/cutouts|/v1/jobs"}[1h]))'

The URL comes from --prometheus, else PETCUT_PROMETHEUS_URL; --google <project> without a URL
reads ${managedPrometheus('<project>')}.
A bearer token from PETCUT_PROMETHEUS_TOKEN, or with --google from Application Default Credentials
(gcloud auth application-default login; the account needs roles/monitoring.viewer).
The last lines are deploy/rollout.yml's window block, ready to paste.

Exit codes: 0 report printed; 2 bad flag; 3 query API unreachable or refused the query;
4 too little data (under 7 days, or no series: the plan's default 02:00-06:00 America/New_York applies).`;

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`${flag}: "${text}" must be a whole number from ${min} to ${max}`);
  return value;
}

function stepSeconds(text: string): number {
  const match = /^(\d+)(s|m|h)$/.exec(text);
  const seconds = match ? Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2] as 's' | 'm' | 'h'] : NaN;
  if (!(seconds >= 60 && 3600 % seconds === 0)) throw new UsageError(`--step: "${text}" must divide an hour and be at least a minute (1m, 5m, 15m, 30m, 1h)`);
  return seconds;
}

function prometheusUrl(flags: TrafficFlags, env: NodeJS.ProcessEnv): string {
  const project = typeof flags.google === 'string' ? flags.google : undefined;
  const url = flags.prometheus ?? (env.PETCUT_PROMETHEUS_URL || undefined) ?? (project ? managedPrometheus(project) : undefined);
  if (!url) throw new UsageError('--prometheus: give the query API\'s URL (or set PETCUT_PROMETHEUS_URL, or --google <project>)');
  if (!/^https?:\/\/[^/\s]+/i.test(url)) throw new UsageError(`--prometheus: "${url}" must be an http:// or https:// URL`);
  return url;
}

export function trafficOptions(flags: TrafficFlags): TrafficOptions {
  const now = flags.now === undefined ? undefined : new Date(flags.now);
  if (now && Number.isNaN(now.getTime())) throw new UsageError(`--now: "${flags.now}" is not an ISO date-time`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: flags.timeZone });
  } catch {
    throw new UsageError(`--time-zone: "${flags.timeZone}" is not an IANA time zone (e.g. America/New_York)`);
  }
  if (flags.query !== undefined && !flags.query.trim()) throw new UsageError('--query: give a PromQL expression');
  return {
    days: integer('--days', flags.days, 1, 400),
    windowHours: integer('--window-hours', flags.windowHours, 1, 24),
    timeZone: flags.timeZone,
    stepS: stepSeconds(flags.step),
    ...(flags.query ? { query: flags.query } : {}),
    ...(now ? { now } : {}),
  };
}

async function tokenSource(flags: TrafficFlags, env: NodeJS.ProcessEnv): Promise<(() => Promise<string | undefined>) | string | undefined> {
  if (!flags.google) return env.PETCUT_PROMETHEUS_TOKEN || undefined;
  const { googleAccessToken } = await import('../ops/cloudrun/auth.js');
  const google = googleAccessToken();
  return async () => {
    try {
      return await google();
    } catch (error) {
      throw new PrometheusError(`no Google access token for Managed Service for Prometheus (${(error as Error).message}); the account needs roles/monitoring.viewer`, 401);
    }
  };
}

export async function runTraffic(flags: TrafficFlags, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let options: TrafficOptions;
  let url: string;
  try {
    options = trafficOptions(flags);
    url = prometheusUrl(flags, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    log(`petcut traffic: ${error.message}`);
    return EXIT.usage;
  }
  try {
    const client = createPrometheusClient(url, { token: await tokenSource(flags, env) });
    const report = await readTraffic(client, options);
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatTraffic(report));
    if (report.warning) log(`petcut traffic: ${report.warning}`);
    return report.warning ? EXIT.tooLittleData : EXIT.ok;
  } catch (error) {
    if (error instanceof TrafficDataError) {
      if (flags.json) process.stdout.write(`${JSON.stringify({ error: error.message, found: error.found, exitCode: EXIT.tooLittleData }, null, 2)}\n`);
      log(`petcut traffic: ${error.message}`);
      return EXIT.tooLittleData;
    }
    if (!(error instanceof PrometheusError)) throw error;
    log(`petcut traffic: ${error.message}`);
    return EXIT.unreachable;
  }
}

export function registerTrafficCommand(program: Command, log: (line: string) => void): void {
  program.command('traffic')
    .description('the quietest hours of the week from the request rate of the last N days in Prometheus (heat table, quietest windows, the rollout window to paste into deploy/rollout.yml)')
    .option('--days <n>', 'days to read back', '30')
    .option('--prometheus <url>', 'the Prometheus query API (default PETCUT_PROMETHEUS_URL)')
    .option('--google [project]', 'a Google access token (Managed Service for Prometheus); with a project and no URL, its query API')
    .option('--query <promql>', 'requests/s to read (default: all routes but health and metrics, rate over the step)')
    .option('--window-hours <n>', 'length of a deploy window in hours', '4')
    .option('--time-zone <zone>', 'the clock the hours are read on', 'America/New_York')
    .option('--step <duration>', 'seconds between samples: 1m, 5m, 15m, 30m or 1h', '1h')
    .option('--json', 'print the report as JSON')
    .addOption(new Option('--now <iso>', 'end of the range (tests)').hideHelp())
    .addHelpText('after', HELP)
    // Usage errors (an unknown flag, a missing value) exit 2 like the other wrong input; --help exits 0.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT.usage))
    .action(async (flags: TrafficFlags) => {
      process.exitCode = await runTraffic(flags, log);
    });
}
